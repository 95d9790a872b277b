import type { IdempotencyRecord } from "./store.js";

/** Base class of every error idemkit throws on purpose. `code` is stable; match on it. */
export class IdempotencyError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** The key is not a valid idempotency key (empty, too long, not printable ASCII, bad quoting). */
export class InvalidKeyError extends IdempotencyError {
  constructor(message: string) {
    super("invalid_key", message);
  }
}

/**
 * The first attempt with this key is still running (its lease is live), or this caller's own run was
 * taken over and the key holds no outcome yet (`record` then `undefined`). Retry later.
 */
export class ConflictError extends IdempotencyError {
  /** The key's live record (not enumerable: see `keepRecord`). */
  declare readonly record: IdempotencyRecord | undefined;
  /**
   * For a key in flight (`record` set), made without a stack trace: its `stack` is its first line. It
   * is an answer, like a 409, not a fault, and in a burst of retried duplicates nearly every request
   * gets one; capturing the stack was the largest single cost of such a request (bench/HISTORY.md,
   * fourteenth round). A caller's own run taken over (`record` undefined) is rare and keeps its stack.
   */
  constructor(key: string, record: IdempotencyRecord | undefined) {
    const message = `A request with idempotency key "${key}" is still in progress`;
    const limit = record === undefined ? UNTOUCHED : muteStackTraces();
    try {
      super("conflict", message);
    } finally {
      restoreStackTraces(limit);
    }
    // JavaScriptCore (Bun) gives an error made at limit 0 no `stack` at all.
    if (!("stack" in this)) {
      Object.defineProperty(this, "stack", {
        value: `${this.name}: ${message}`,
        writable: true,
        configurable: true,
      });
    }
    keepRecord(this, record);
  }
}

/** The key was used before with a different fingerprint (another payload, method or path). */
export class MismatchError extends IdempotencyError {
  /** The record the key holds (not enumerable: see `keepRecord`). */
  declare readonly record: IdempotencyRecord;
  constructor(key: string, record: IdempotencyRecord) {
    super("mismatch", `Idempotency key "${key}" was already used with a different request`);
    keepRecord(this, record);
  }
}

/**
 * `error.record`, readable and writable (a redacting hook may replace it) but not enumerable: loggers
 * (pino's and bunyan's error serializers), `JSON.stringify` and `console.log` copy an error's
 * enumerable fields, and a record holds the owner's lease token and, once completed, the stored
 * outcome's bytes, one field per byte.
 */
function keepRecord(error: Error, record: IdempotencyRecord | undefined): void {
  Object.defineProperty(error, "record", {
    value: record,
    enumerable: false,
    writable: true,
    configurable: true,
  });
}

/** The store did not answer in time or failed; the work was not run (fail closed). */
export class StoreUnavailableError extends IdempotencyError {
  readonly operation: string;
  constructor(operation: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super("store_unavailable", `Idempotency store failed during ${operation}: ${reason}`, { cause });
    this.operation = operation;
  }
}

/** The stored outcome exists but cannot be replayed (it was too large to store, or not encodable). */
export class NotReplayableError extends IdempotencyError {
  constructor(key: string, reason: string) {
    super("not_replayable", `The outcome stored for idempotency key "${key}" cannot be replayed: ${reason}`);
  }
}

/** The signal's reason when the lease was lost: taken over, or not renewed in time. */
export class LeaseLostError extends IdempotencyError {
  constructor(key: string) {
    super("lease_lost", `The lease on idempotency key "${key}" was lost`);
  }
}

/**
 * The signal's reason when the handler has held its key for `maxHoldMs`: its lease is no longer
 * renewed, and the key frees when the last renewed lease ends (at most `leaseMs` later). A
 * completion or release before then still goes through; after it, a completion is refused.
 */
export class MaxHoldExceededError extends IdempotencyError {
  constructor(key: string, maxHoldMs: number) {
    super(
      "max_hold_exceeded",
      `The handler for idempotency key "${key}" has held it for maxHoldMs (${maxHoldMs} ms): its lease is no longer renewed and ends within leaseMs`,
    );
  }
}

// V8 (Node, Deno) and JavaScriptCore (Bun) capture as many frames as `Error.stackTraceLimit` says when an
// error is made. Only a plain writable number is changed (and put back): where it is absent, frozen or
// an accessor, errors are made as usual, and nothing is thrown and caught on each one.
const limitedError = Error as { stackTraceLimit?: unknown };
const UNTOUCHED = Symbol("untouched");

function muteStackTraces(): unknown {
  const own = Object.getOwnPropertyDescriptor(Error, "stackTraceLimit");
  if (own?.writable !== true || typeof own.value !== "number") return UNTOUCHED;
  limitedError.stackTraceLimit = 0;
  return own.value;
}

function restoreStackTraces(limit: unknown): void {
  if (limit !== UNTOUCHED) limitedError.stackTraceLimit = limit;
}
