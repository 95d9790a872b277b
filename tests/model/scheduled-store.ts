import type { IdempotencyStore } from "@idemkit/core";
import type fc from "fast-check";

export type StoreOp = "claim" | "complete" | "release" | "extend" | "get" | "delete";

export interface ScheduledStoreOptions {
  /** Shown in the scheduler's report, e.g. "A" for the first process. */
  label: string;
  /** Called when a call is issued (before the scheduler lets it reach the store). */
  onIssue?: (op: StoreOp) => void;
  /** Return `true` to lose this call's reply after the store applied it (a dropped response). */
  loseReply?: (op: StoreOp) => boolean;
  /**
   * Return a number of real milliseconds to hold this call before it may reach the store (a packet
   * stuck in retransmission): long enough and the caller's storeTimeoutMs gives up on it and retries,
   * and the scheduler then decides when the late call lands among everything else.
   */
  late?: (op: StoreOp) => number | undefined;
}

export type ScheduledStore = IdempotencyStore & {
  /** Resolves once every call issued so far (late ones included) has had its reply. */
  settled(): Promise<void>;
};

/**
 * Wraps a store so that both moments of every call are decided by fast-check's scheduler: when the
 * call reaches the store, and when its reply reaches the caller. Orderings that rarely happen by
 * chance (a reply overtaken by another caller's write, a heartbeat landing after a completion) are
 * then tried deterministically, and replayed from the seed when one fails.
 */
export function scheduledStore(
  s: fc.Scheduler,
  store: IdempotencyStore,
  options: ScheduledStoreOptions,
): ScheduledStore {
  const calls = new Set<Promise<unknown>>();
  const wrap =
    <A extends unknown[], R>(op: StoreOp, fn: (...args: A) => Promise<R>) =>
    (...args: A): Promise<R> => {
      const call = (async () => {
        options.onIssue?.(op);
        const holdMs = options.late?.(op);
        if (holdMs !== undefined) await new Promise((resolve) => setTimeout(resolve, holdMs));
        await s.schedule(Promise.resolve(), `${options.label} ${op}${holdMs ? " (late)" : ""} → store`);
        const result = await fn(...args);
        if (options.loseReply?.(op)) {
          await s.schedule(Promise.resolve(), `${options.label} ${op} reply lost`);
          throw new Error(`${op}: connection reset after the command was applied (reply lost)`);
        }
        return s.schedule(Promise.resolve(result), `${options.label} ${op} ← reply`);
      })();
      const tracked = call.then(
        () => {},
        () => {},
      );
      calls.add(tracked);
      void tracked.then(() => calls.delete(tracked));
      return call;
    };
  return {
    async settled() {
      while (calls.size > 0) await Promise.all(calls);
    },
    claim: wrap("claim", (k, c) => store.claim(k, c)),
    complete: wrap("complete", (k, t, o) => store.complete(k, t, o)),
    release: wrap("release", (k, t) => store.release(k, t)),
    extend: wrap("extend", (k, t, ms) => store.extend(k, t, ms)),
    get: wrap("get", (k) => store.get(k)),
    delete: wrap("delete", (k) => store.delete(k)),
  };
}
