import { StoreUnavailableError } from "./errors.js";
import type { IdempotencyEvent, StoreOperation } from "./events.js";

type Reported<T extends IdempotencyEvent["type"]> = Omit<Extract<IdempotencyEvent, { type: T }>, "at">;

/** What a bounded store call reports to (the engine): each call, answered or failed. */
export interface StoreCallReporter {
  readonly storeTimeoutMs: number;
  /** The store bounds every call itself within `storeTimeoutMs` (`settlesWithinMs`): no timer here. */
  readonly storeBoundsCalls: boolean;
  readonly listening: boolean;
  emit(event: Reported<"store-call"> | Reported<"store-error">): void;
}

/**
 * Runs one store call under the reporter's timeout; an answer is a `store-call` event, a failure a
 * `StoreUnavailableError` and a `store-error` event. One timer and one promise per call: the timer
 * rejects it when the store has not answered in `storeTimeoutMs`, and is cleared as soon as the
 * store answers. No timer when the store bounds its calls itself at least as tightly: its own
 * rejection arrives first.
 */
export function boundedStoreCall<T>(
  reporter: StoreCallReporter,
  operation: StoreOperation,
  key: string,
  fn: () => Promise<T>,
): Promise<T> {
  const started = performance.now();
  const ms = reporter.storeTimeoutMs;
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
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
    const timer = reporter.storeBoundsCalls
      ? undefined
      : setTimeout(
          () => fail(new StoreUnavailableError(operation, new Error(`timed out after ${ms} ms`))),
          ms,
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
      clearTimeout(timer);
      if (reporter.listening) {
        reporter.emit({ type: "store-call", key, operation, durationMs: performance.now() - started });
      }
      resolve(value);
    }, fail);
  });
}
