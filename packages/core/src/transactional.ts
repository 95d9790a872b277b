import type { ClaimDecision, Engine } from "./engine.js";
import { StoreUnavailableError } from "./errors.js";
import type { IdempotencyRecord } from "./store.js";

/** What a transactional run of `work` produced. */
export interface TransactionalOutput<T> {
  /** Returned to the caller as is. */
  value: T;
  /** The outcome bytes stored with the key when the transaction commits. */
  result: Uint8Array;
  /** `false` rolls the whole transaction back (business writes and key): nothing is left behind. */
  commit: boolean;
}

export type TransactionalResult<T> =
  | { acquired: true; fence: number; value: T; committed: boolean }
  | { acquired: false; record: IdempotencyRecord };

/**
 * Transactional mode (SQL stores): the key row, the caller's business writes and the stored outcome
 * commit or roll back together, in one transaction on one client `C`.
 *
 * Promises:
 * - `work` runs only when no live record exists for the key; otherwise nothing runs and the live
 *   record comes back (core decides replay, conflict or mismatch).
 * - A concurrent duplicate waits for the first transaction to end: after a commit it gets the
 *   completed record; after a rollback it runs `work` itself.
 * - A thrown `work`, `commit: false`, or a crashed process leaves no trace of the key.
 */
export interface TransactionalStore<C> {
  transaction<T>(
    key: string,
    claim: { fingerprint: string; retentionMs: number },
    work: (context: { client: C; fence: number }) => Promise<TransactionalOutput<T>>,
  ): Promise<TransactionalResult<T>>;
}

/** What a transactional run decided: the work ran (committed or rolled back), or a live record answered. */
export type TransactionDecision<T> = { kind: "ran"; value: T } | Exclude<ClaimDecision, { kind: "acquired" }>;

/**
 * Runs `work` in the store's transaction for `key`, with the engine's bound and events: until the
 * work starts the transaction is bounded like any store call (past it: `StoreUnavailableError`, a
 * `store-error` event, and the work, should the transaction get that far later, does not run). A
 * throw from `work` rolls back and is rethrown as it is.
 */
export async function runTransaction<C, T>(
  engine: Engine,
  store: TransactionalStore<C>,
  key: string,
  fingerprint: string,
  work: (context: { client: C; fence: number }) => Promise<TransactionalOutput<T>>,
): Promise<TransactionDecision<T>> {
  const started = performance.now();
  let workStarted = false;
  let abandoned = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      if (workStarted) return;
      abandoned = true;
      reject(new Error(`no transaction within ${engine.storeTimeoutMs} ms`));
    }, engine.storeTimeoutMs);
  });
  let workError: { error: unknown } | undefined;
  let result: TransactionalResult<T>;
  try {
    const transaction = store.transaction(
      key,
      { fingerprint, retentionMs: engine.retentionMs },
      async (tx) => {
        if (abandoned) throw new Error("the caller was already answered: store unavailable");
        workStarted = true;
        clearTimeout(timer);
        workError = undefined; // a serialization retry starts over
        try {
          return await work(tx);
        } catch (error) {
          workError = { error };
          throw error;
        }
      },
    );
    transaction.catch(() => {}); // it may settle after the bound answered
    result = await Promise.race([transaction, bound]);
  } catch (error) {
    // The work's own throw goes through as it is; anything else the store says is a store failure
    // (a connection lost under the work included), answered as the store being unavailable.
    if (workError && error === workError.error) throw error;
    engine.emit({
      type: "store-error",
      key,
      operation: "claim",
      durationMs: performance.now() - started,
      error,
    });
    throw new StoreUnavailableError("claim", error);
  } finally {
    clearTimeout(timer);
  }
  const durationMs = performance.now() - started;
  if (!result.acquired) return engine.decide(key, fingerprint, result.record, durationMs);
  engine.emit(
    result.committed
      ? { type: "completed", key, fence: result.fence, durationMs, bytes: 0 }
      : { type: "released", key, fence: result.fence, durationMs, reason: "not-stored" },
  );
  return { kind: "ran", value: result.value };
}
