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
