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
  readonly record: IdempotencyRecord | undefined;
  constructor(key: string, record: IdempotencyRecord | undefined) {
    super("conflict", `A request with idempotency key "${key}" is still in progress`);
    this.record = record;
  }
}

/** The key was used before with a different fingerprint (another payload, method or path). */
export class MismatchError extends IdempotencyError {
  readonly record: IdempotencyRecord;
  constructor(key: string, record: IdempotencyRecord) {
    super("mismatch", `Idempotency key "${key}" was already used with a different request`);
    this.record = record;
  }
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
