export { attachBodyBytes, attachedBodyBytes } from "./body-bytes.js";
export { type Codec, defaultCodec } from "./codec.js";
export {
  type ClaimDecision,
  type CompletionResult,
  Engine,
  type EngineOptions,
  type Lease,
  LeaseLostError,
} from "./engine.js";
export {
  ConflictError,
  IdempotencyError,
  InvalidKeyError,
  MismatchError,
  NotReplayableError,
  StoreUnavailableError,
} from "./errors.js";
export type {
  IdempotencyEvent,
  IdempotencyEventListener,
  IdempotencyEventType,
  StoreOperation,
} from "./events.js";
export { canonicalJson, fingerprintRequest } from "./fingerprint.js";
export type { HandlerContext, HttpOptions, IdempotentHandler, TransactionalHandler } from "./http.js";
export { createIdempotency, type Idempotency, type IdempotencyOptions } from "./idempotency.js";
export { composeStoredKey, MAX_KEY_LENGTH, parseIdempotencyKey, validateKey } from "./key.js";
export { createMemoryStore, type MemoryStoreOptions } from "./memory-store.js";
export type { RunContext, RunOptions, RunResult } from "./run.js";
export type {
  ClaimRequest,
  ClaimResult,
  CompletedRecord,
  CompleteRequest,
  IdempotencyRecord,
  IdempotencyStore,
  InProgressRecord,
} from "./store.js";
export { decodeStoredResponse, encodeStoredResponse, type StoredResponse } from "./stored-response.js";
export type { TransactionalOutput, TransactionalResult, TransactionalStore } from "./transactional.js";
