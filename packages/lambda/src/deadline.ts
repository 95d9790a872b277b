import { AsyncLocalStorage } from "node:async_hooks";
import type { IdempotencyStore } from "@idemkit/core";
import type { LambdaContext } from "./types.js";

/**
 * The lease rule (README, "Leases and the invocation's deadline"): a key's lease never ends later than
 * the invocation's deadline plus `deadlineMarginMs`, and never sooner than that while the invocation
 * runs. Each claim and each heartbeat asks the store for `min(leaseMs, deadline + margin - now)`, so
 * the lease end is `min(now + leaseMs, deadline + margin)`: it only ever moves forward, and it stops at
 * the deadline. Lambda ends an invocation at its deadline, so a lease past it (plus the margin) only
 * blocks the retries of a timed-out invocation; a lease that ended before it would let a duplicate run
 * while the first still does.
 */
export function boundedLeaseMs(leaseMs: number, deadline: number, marginMs: number, now: number): number {
  // Stores take a whole number of milliseconds, at least 1 (past the deadline: the lease ends at once).
  return Math.max(1, Math.min(leaseMs, Math.ceil(deadline + marginMs - now)));
}

/** The longest delay a Node timer holds; a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The running invocation's deadline, on the `performance.now()` clock, for the store calls made under it. */
const deadlines = new AsyncLocalStorage<number>();

/**
 * The invocation's deadline on the `performance.now()` clock (monotonic, as core's lease timers are),
 * from the Lambda context. A context without `getRemainingTimeInMillis` is refused: without it no lease
 * can be bounded, and a default one would hold a timed-out invocation's key far too long.
 */
export function deadlineOf(context: LambdaContext | undefined): number {
  const remaining =
    typeof context?.getRemainingTimeInMillis === "function" ? context.getRemainingTimeInMillis() : undefined;
  if (typeof remaining !== "number" || Number.isNaN(remaining)) {
    throw new TypeError(
      "@idemkit/lambda: the handler needs the Lambda context (its getRemainingTimeInMillis() bounds the key's lease); " +
        "call it as Lambda does, handler(event, context)",
    );
  }
  return performance.now() + Math.max(0, remaining);
}

/**
 * Runs `claim` with `deadline` as the invocation's deadline: the claim, and every heartbeat of the lease
 * it gets (its timers carry the async context they were set in), ask the store for bounded leases.
 */
export function underDeadline<T>(deadline: number, claim: () => T): T {
  return deadlines.run(deadline, claim);
}

/**
 * `store`, with the lease of each `claim` and `extend` made under a deadline bounded by it
 * (`boundedLeaseMs`). Everything else passes through to the store as it is.
 */
export function deadlineBoundStore(store: IdempotencyStore, marginMs: number): IdempotencyStore {
  const bound = (leaseMs: number) => {
    const deadline = deadlines.getStore();
    return deadline === undefined ? leaseMs : boundedLeaseMs(leaseMs, deadline, marginMs, performance.now());
  };
  const claim: IdempotencyStore["claim"] = (key, request) =>
    store.claim(key, { ...request, leaseMs: bound(request.leaseMs) });
  const extend: IdempotencyStore["extend"] = (key, token, leaseMs) =>
    store.extend(key, token, bound(leaseMs));
  // A proxy rather than a copy: capabilities a store has beyond the six calls stay reachable.
  return new Proxy(store, {
    get(target, name) {
      if (name === "claim") return claim;
      if (name === "extend") return extend;
      const value = Reflect.get(target, name, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/**
 * Calls `end` once the invocation's deadline plus the margin has passed, unless cancelled first. For a
 * Middy middleware whose `after` and `onError` are skipped (a later middleware answered early): its
 * lease has ended in the store by then, and its heartbeat must not go on into later invocations.
 */
export function atDeadline(deadline: number, marginMs: number, end: () => void): () => void {
  const delay = Math.min(MAX_TIMER_MS, Math.max(0, deadline + marginMs - performance.now()));
  const timer = setTimeout(end, delay);
  timer.unref?.();
  return () => clearTimeout(timer);
}
