import type { CallDeadlines } from "./call-deadlines.js";
import { StoreUnavailableError } from "./errors.js";
import type { IdempotencyEvent, StoreOperation } from "./events.js";

type Reported<T extends IdempotencyEvent["type"]> = Omit<Extract<IdempotencyEvent, { type: T }>, "at">;

/** What a bounded store call reports to (the engine): each call, answered or failed. */
export interface StoreCallReporter {
  readonly storeTimeoutMs: number;
  /**
   * The deadlines of the calls, all `storeTimeoutMs` long; `undefined` when the store bounds every
   * call itself within `storeTimeoutMs` (`settlesWithinMs`): its own rejection arrives first.
   */
  readonly callDeadlines: CallDeadlines | undefined;
  readonly listening: boolean;
  emit(event: Reported<"store-call"> | Reported<"store-error">): void;
}

/**
 * Runs one store call under the reporter's timeout; an answer is a `store-call` event, a failure a
 * `StoreUnavailableError` and a `store-error` event. One promise and one deadline per call: the
 * deadline rejects it when the store has not answered in `storeTimeoutMs`, and ends as soon as the
 * store answers.
 */
export function boundedStoreCall<T>(
  reporter: StoreCallReporter,
  operation: StoreOperation,
  key: string,
  fn: () => Promise<T>,
): Promise<T> {
  const started = performance.now();
  const deadlines = reporter.callDeadlines;
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    // Never throws: it runs from the deadlines' timer (CallDeadlines, `expire`).
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      deadlines?.end(deadline);
      if (reporter.listening) {
        reporter.emit({
          type: "store-error",
          key,
          operation,
          durationMs: performance.now() - started,
          error,
        });
      }
      reject(error instanceof StoreUnavailableError ? error : new StoreUnavailableError(operation, error));
    };
    const deadline = deadlines?.start(() =>
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
      deadlines?.end(deadline);
      if (reporter.listening) {
        reporter.emit({ type: "store-call", key, operation, durationMs: performance.now() - started });
      }
      resolve(value);
    }, fail);
  });
}
