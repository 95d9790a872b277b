import type { CallDeadlines } from "./call-deadlines.js";
import { StoreUnavailableError } from "./errors.js";
import type { IdempotencyEvent, StoreOperation } from "./events.js";
import { isThenable } from "./thenable.js";

type Reported<T extends IdempotencyEvent["type"]> = Omit<Extract<IdempotencyEvent, { type: T }>, "at">;

/** What a bounded store call reports to (the engine): each call, answered or failed. */
export interface StoreCallReporter {
  readonly storeTimeoutMs: number;
  /**
   * The deadlines of the calls, all `storeTimeoutMs` long; `undefined` when the store bounds every
   * call itself within `storeTimeoutMs` (`settlesWithinMs`), its own rejection arriving first, or
   * every call settles as it returns (`settlesOnReturn`).
   */
  readonly callDeadlines: CallDeadlines | undefined;
  readonly listening: boolean;
  emit(event: Reported<"store-call"> | Reported<"store-error">): void;
}

/**
 * Runs one store call under the reporter's timeout; an answer is a `store-call` event, a failure a
 * `StoreUnavailableError` and a `store-error` event. One promise and one deadline per call: the
 * deadline rejects it when the store has not answered in `storeTimeoutMs`, and ends as soon as the
 * store answers. Without deadlines (`callDeadlines` undefined), the store's own promise, reported.
 */
export function boundedStoreCall<T>(
  reporter: StoreCallReporter,
  operation: StoreOperation,
  key: string,
  fn: () => Promise<T>,
): Promise<T> {
  const started = performance.now();
  const deadlines = reporter.callDeadlines;
  if (deadlines === undefined) return reportedCall(reporter, operation, key, started, fn);
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    // Never throws: it runs from the deadlines' timer (CallDeadlines, `expire`).
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      deadlines.end(deadline);
      reject(failure(reporter, operation, key, started, error));
    };
    const deadline = deadlines.start(() =>
      fail(new StoreUnavailableError(operation, new Error(`timed out after ${reporter.storeTimeoutMs} ms`))),
    );
    let pending: Promise<T>;
    try {
      pending = fn();
    } catch (error) {
      fail(error);
      return;
    }
    Promise.resolve(pending).then((value) => {
      if (settled) return;
      settled = true;
      deadlines.end(deadline);
      answered(reporter, operation, key, started);
      resolve(value);
    }, fail);
  });
}

/**
 * A call with no deadline of core's (the store bounds it, or it settles as it returns): the store's
 * own promise, reported and its failure converted, with no promise or closure more than that needs.
 */
function reportedCall<T>(
  reporter: StoreCallReporter,
  operation: StoreOperation,
  key: string,
  started: number,
  fn: () => Promise<T>,
): Promise<T> {
  let pending: Promise<T>;
  try {
    pending = fn();
  } catch (error) {
    return Promise.reject(failure(reporter, operation, key, started, error));
  }
  return Promise.resolve(pending).then(
    (value) => {
      answered(reporter, operation, key, started);
      return value;
    },
    (error: unknown) => {
      throw failure(reporter, operation, key, started, error);
    },
  );
}

/**
 * A store call that returns its answer rather than a promise (store.ts, `SynchronousCalls`), reported
 * as `reportedCall` reports one. A promise returned all the same breaks that contract: the call fails
 * (`StoreUnavailableError`), and the promise goes to `late`, its failure caught, for the caller to
 * release what it may still acquire.
 */
export function settledStoreCall<T>(
  reporter: StoreCallReporter,
  operation: StoreOperation,
  key: string,
  fn: () => T,
  late?: Promise<T>[],
): T {
  const started = performance.now();
  let value: T;
  try {
    value = fn();
    if (isThenable(value)) {
      const pending = Promise.resolve(value);
      pending.catch(() => {});
      late?.push(pending);
      throw new TypeError("a synchronous call returned a promise");
    }
  } catch (error) {
    throw failure(reporter, operation, key, started, error);
  }
  answered(reporter, operation, key, started);
  return value;
}

/** A call that answered, reported as `store-call`. */
function answered(
  reporter: StoreCallReporter,
  operation: StoreOperation,
  key: string,
  started: number,
): void {
  if (reporter.listening) {
    reporter.emit({ type: "store-call", key, operation, durationMs: performance.now() - started });
  }
}

/** A failed call's error, as core throws it (`StoreUnavailableError`), reported as `store-error`. */
function failure(
  reporter: StoreCallReporter,
  operation: StoreOperation,
  key: string,
  started: number,
  error: unknown,
): StoreUnavailableError {
  if (reporter.listening) {
    reporter.emit({ type: "store-error", key, operation, durationMs: performance.now() - started, error });
  }
  return error instanceof StoreUnavailableError ? error : new StoreUnavailableError(operation, error);
}
