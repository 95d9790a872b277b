import { describe, integerOption, MAX_TIMER_MS } from "./options-check.js";
import type { IdempotencyStore } from "./store.js";

export const ENGINE_OPTION_NAMES = [
  "store",
  "leaseMs",
  "retentionMs",
  "heartbeatMs",
  "maxHoldMs",
  "storeTimeoutMs",
];

export interface EngineOptions {
  store: IdempotencyStore;
  /** Lease length; a crashed owner frees the key after it. Default 30 s. */
  leaseMs?: number;
  /**
   * How long a completed outcome is kept for replay, and how long a record whose lease ended
   * (crashed, stalled or released owner) keeps its fence, so a takeover gets a higher one. Default 24 h.
   */
  retentionMs?: number;
  /** How often a running handler's lease is extended. Default a third of the lease. */
  heartbeatMs?: number;
  /**
   * How long a handler may hold its key, counted from the claim: past it the lease is no longer
   * renewed, the handler's `signal` fires (reason: an `IdempotencyError` with code
   * `max_hold_exceeded`), a `lease-lost` event with phase `max-hold` is emitted, and the key frees
   * when the last renewed lease ends, at most `maxHoldMs + leaseMs` after the claim. A handler that
   * never settles can then no longer answer every retry with 409 for as long as the process lives.
   * At least `leaseMs`; `Infinity` renews for as long as the handler runs. Default 1 hour (or
   * `leaseMs`, if longer): longer than any HTTP request lives behind common proxies and than most
   * jobs, because a key freed under a handler that is slow but alive lets a retry run the work a
   * second time.
   */
  maxHoldMs?: number;
  /** Bound on every store call; past it the call counts as failed (fail closed). Default 2 s. */
  storeTimeoutMs?: number;
}

/** The engine's options, checked, with their defaults filled in. */
export type EngineSettings = Required<EngineOptions>;

/** Checks every engine option; a bad one throws naming it, when it is given. */
export function engineSettings(options: EngineOptions): EngineSettings {
  const leaseMs = integerOption("leaseMs", options.leaseMs, 30_000, 2, MAX_TIMER_MS);
  return {
    store: storeOption(options.store),
    leaseMs,
    retentionMs: integerOption("retentionMs", options.retentionMs, 24 * 60 * 60 * 1000, 1, MAX_RETENTION_MS),
    heartbeatMs: integerOption(
      "heartbeatMs",
      options.heartbeatMs,
      Math.max(1, Math.floor(leaseMs / 3)),
      1,
      leaseMs - 1,
    ),
    maxHoldMs: maxHoldOption(options.maxHoldMs, leaseMs),
    storeTimeoutMs: integerOption("storeTimeoutMs", options.storeTimeoutMs, 2_000, 1, MAX_TIMER_MS),
  };
}

/**
 * The default maximum hold: an hour (or the lease, if longer). Longer than any HTTP request lives
 * behind common proxies and load balancers, and than most jobs, because the two ways to get it wrong
 * are not alike: too long, a handler that never settles answers its key's retries with 409 for that
 * long; too short, the key is freed under a handler that is slow but alive, and a retry runs the
 * work a second time.
 */
const DEFAULT_MAX_HOLD_MS = 60 * 60 * 1000;

/** `maxHoldMs`: an integer from `leaseMs` up, or `Infinity` (renewed as long as the handler runs). */
function maxHoldOption(value: unknown, leaseMs: number): number {
  if (value === undefined) return Math.max(DEFAULT_MAX_HOLD_MS, leaseMs);
  if (
    value === Number.POSITIVE_INFINITY ||
    (typeof value === "number" && Number.isSafeInteger(value) && value >= leaseMs)
  ) {
    return value;
  }
  throw new RangeError(
    `maxHoldMs must be an integer from ${leaseMs} (leaseMs) to ${Number.MAX_SAFE_INTEGER}, or Infinity; got ${describe(value)}`,
  );
}

/** Ten years: longer than any store needs to keep a record, and within what each can represent. */
const MAX_RETENTION_MS = 10 * 365 * 24 * 60 * 60 * 1000;

const STORE_METHODS = ["claim", "complete", "release", "extend", "get", "delete"] as const;

function storeOption(store: unknown): IdempotencyStore {
  const missing = STORE_METHODS.filter(
    (m) => typeof (store as Record<string, unknown> | null)?.[m] !== "function",
  );
  if (missing.length > 0) {
    throw new TypeError(
      `store must be an idempotency store (createMemoryStore(), createRedisStore(…), …); got ${describe(store)}` +
        (store && typeof store === "object" ? ` without ${missing.join(", ")}` : ""),
    );
  }
  checkSynchronousCalls(store as IdempotencyStore);
  return store as IdempotencyStore;
}

const SYNCHRONOUS_CALLS = ["claim", "complete", "claimMethod", "completeMethod"] as const;

/**
 * A store's `synchronousCalls`, when core will use them (beside `settlesOnReturn: true`; a wrapper that
 * hides that declaration, because its own calls do not settle so, turns them off): whole.
 */
function checkSynchronousCalls(store: IdempotencyStore): void {
  const calls = store.synchronousCalls as Record<string, unknown> | null | undefined;
  if (calls === undefined || store.settlesOnReturn !== true) return;
  const missing = SYNCHRONOUS_CALLS.filter((name) => typeof calls?.[name] !== "function");
  if (missing.length > 0) {
    throw new TypeError(
      `store.synchronousCalls must hold the functions ${SYNCHRONOUS_CALLS.join(", ")}; got ${describe(calls)}` +
        (calls && typeof calls === "object" ? ` without ${missing.join(", ")}` : ""),
    );
  }
  for (const name of ["claim", "complete"] as const) {
    // The store's own async method given as its synchronous form, say: it answers with a promise.
    if (Object.prototype.toString.call(calls?.[name]) === "[object AsyncFunction]") {
      throw new TypeError(
        `store.synchronousCalls.${name} must return its answer, not a promise; got an async function`,
      );
    }
  }
}
