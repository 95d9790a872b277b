import type { ClaimDecision, Engine } from "./engine.js";
import { StoreUnavailableError } from "./errors.js";
import { MAX_TIMER_MS } from "./options-check.js";
import type { IdempotencyRecord, InProgressRecord } from "./store.js";

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

/** What a transactional claim is given. */
export interface TransactionalClaim {
  /** Fingerprint of the request; stored with the key. */
  fingerprint: string;
  /** How long the completed record is kept, in ms. */
  retentionMs: number;
  /**
   * The longest the claim may wait, in ms (an integer from 1), for another transaction that holds
   * the key and has not ended (SQL: its uncommitted row, on the key's unique index). The store bounds
   * that wait itself (PostgreSQL: `lock_timeout` for the claim statement alone) and, when it runs
   * out, ends its own transaction at once (nothing else is held) and resolves with
   * `TransactionalBusy`. A store may ignore it: core's own bound then ends the wait (a store error).
   */
  waitMs?: number;
  /**
   * Called by the store just before it sends the claim, once connected and in its transaction (once
   * per attempt). From then on core allows `waitMs` more than its `storeTimeoutMs` (the claim may
   * wait that long on the key); before it, connecting and beginning are bounded by `storeTimeoutMs`
   * alone. A store that never calls it is bounded by `storeTimeoutMs` until the work starts.
   */
  onClaimSent?: () => void;
}

/**
 * The claim waited `waitMs` on a transaction that holds the key and has not ended: the key is in
 * progress. Its record cannot be read until that transaction commits, so there is none; core answers
 * as for a key in progress (409, a `conflict` event).
 */
export interface TransactionalBusy {
  acquired: false;
  busy: true;
  record?: undefined;
}

/**
 * How long a duplicate waits in the database for a transaction holding its key, unless the caller
 * says otherwise: as long as `waitForInFlight` waits by default.
 */
export const DEFAULT_TRANSACTION_WAIT_MS = 10_000;

/**
 * Transactional mode (SQL stores): the key row, the caller's business writes and the stored outcome
 * commit or roll back together, in one transaction on one client `C`.
 *
 * Promises:
 * - `work` runs only when no live record exists for the key; otherwise nothing runs and the live
 *   record comes back (core decides replay, conflict or mismatch).
 * - A concurrent duplicate waits for the first transaction to end: after a commit it gets the
 *   completed record; after a rollback it runs `work` itself. It waits at most `claim.waitMs`, when
 *   given: then it ends its own transaction and resolves with `TransactionalBusy`.
 * - A thrown `work`, `commit: false`, or a crashed process leaves no trace of the key.
 */
export interface TransactionalStore<C> {
  transaction<T>(
    key: string,
    claim: TransactionalClaim,
    work: (context: { client: C; fence: number }) => Promise<TransactionalOutput<T>>,
  ): Promise<TransactionalResult<T> | TransactionalBusy>;
}

/** What a transactional run decided: the work ran (committed or rolled back), or a live record answered. */
export type TransactionDecision<T> = { kind: "ran"; value: T } | Exclude<ClaimDecision, { kind: "acquired" }>;

/**
 * Runs `work` in the store's transaction for `key`, with the engine's bound and events. A duplicate
 * of a key whose first transaction has not ended waits for it in the database, at most `waitMs`
 * (the store bounds that wait: `TransactionalClaim.waitMs`): after a commit it gets the record
 * (replay or mismatch), after a rollback it runs the work, and past `waitMs` it is answered as a key
 * in progress (a `conflict`; no store error: the store answered). Everything else before the work
 * starts is bounded like any store call: connecting and beginning by `storeTimeoutMs`, the claim by
 * `waitMs + storeTimeoutMs` once the store has sent it. Past that: `StoreUnavailableError`, a
 * `store-error` event, and the work, should the transaction get that far later, does not run. A
 * throw from `work` rolls back and is rethrown as it is.
 */
export async function runTransaction<C, T>(
  engine: Engine,
  store: TransactionalStore<C>,
  key: string,
  fingerprint: string,
  work: (context: { client: C; fence: number }) => Promise<TransactionalOutput<T>>,
  waitMs: number = DEFAULT_TRANSACTION_WAIT_MS,
): Promise<TransactionDecision<T>> {
  const started = performance.now();
  let workStarted = false;
  let abandoned = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let fail!: (error: Error) => void;
  const bound = new Promise<never>((_, reject) => {
    fail = reject;
  });
  /** (Re)arms the bound: past `ms` before the work starts, the caller is answered 503. */
  const arm = (ms: number, what: string) => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (workStarted) return;
      abandoned = true;
      fail(new Error(`${what} within ${ms} ms`));
    }, ms);
  };
  arm(engine.storeTimeoutMs, "no transaction");
  // The claim may wait on the key up to waitMs, which the store bounds; the rest is a store call.
  const claimBound = Math.min(waitMs + engine.storeTimeoutMs, MAX_TIMER_MS);
  const onClaimSent = () => {
    if (!workStarted && !abandoned) arm(claimBound, "no answer to the claim");
  };
  let workError: { error: unknown } | undefined;
  let result: TransactionalResult<T> | TransactionalBusy;
  try {
    const transaction = store.transaction(
      key,
      { fingerprint, retentionMs: engine.retentionMs, waitMs, onClaimSent },
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
  if (!result.acquired) {
    if (result.record !== undefined) return engine.decide(key, fingerprint, result.record, durationMs);
    // Busy: another transaction holds the key past waitMs. Its record (fingerprint included) cannot
    // be read before it commits, so this is a conflict whatever the fingerprint: a retry later gets
    // the replay, or 422 if the request differs.
    engine.emit({ type: "conflict", key, durationMs });
    const record: InProgressRecord = {
      state: "in_progress",
      token: "",
      fingerprint,
      fence: 0,
      leaseExpiresAt: Date.now() + waitMs,
      takeover: false,
    };
    return { kind: "conflict", record };
  }
  engine.emit(
    result.committed
      ? { type: "completed", key, fence: result.fence, durationMs, bytes: 0 }
      : { type: "released", key, fence: result.fence, durationMs, reason: "not-stored" },
  );
  return { kind: "ran", value: result.value };
}
