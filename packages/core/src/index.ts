export { type CallDeadline, CallDeadlines } from "./call-deadlines.js";
export { type Codec, defaultCodec } from "./codec.js";
export {
  ConflictError,
  IdempotencyError,
  InvalidKeyError,
  LeaseLostError,
  MaxHoldExceededError,
  MismatchError,
  NotReplayableError,
  StoreUnavailableError,
} from "./errors.js";
export type {
  CallOutcome,
  EventBase,
  FinishedEvent,
  FinishedHttp,
  IdempotencyEvent,
  IdempotencyEventListener,
  IdempotencyEventType,
  StoreOperation,
} from "./events.js";
export { canonicalJson, fingerprintRequest } from "./fingerprint.js";
export type { Answers } from "./http/answers.js";
export type { Begun, HttpEntry, Prepared } from "./http/entry.js";
export type {
  ExchangeBody,
  ExchangeHooks,
  HandlerContext,
  HttpAnswer,
  HttpExchange,
  ResponseHeaders,
  RouteResponse,
  RouteResponseHead,
  UnreplayableReason,
} from "./http/exchange.js";
export { hasNullBody, REPLAYED_HEADER } from "./http/headers.js";
export type { Outcome } from "./http/outcome.js";
export type { OwnedRun } from "./http/owned-run.js";
export type { HttpOptions, HttpPolicy, ResponseHead, Scope } from "./http/policy.js";
export {
  type Problem,
  type ProblemRenderer,
  type ProblemType,
  type RenderedProblem,
  renderProblemJson,
} from "./http/problems.js";
export { decodeStoredResponse, encodeStoredResponse, type StoredResponse } from "./http/stored-response.js";
export { routedTarget } from "./http/target.js";
export type { IdempotentHandler } from "./http/web.js";
export type { TransactionalHandler } from "./http/web-transactional.js";
export {
  createIdempotency,
  type Idempotency,
  type IdempotencyInstanceOptions,
  type IdempotencyOptions,
  splitOptions,
} from "./idempotency.js";
export {
  composeStoredKey,
  type KeyNamespace,
  MAX_KEY_LENGTH,
  parseIdempotencyKey,
  validateKey,
} from "./key.js";
export { withLazyResult } from "./lazy-result.js";
export { type EventLogger, type LogEventsOptions, type LogMethod, logEvents } from "./log-events.js";
export { createMemoryStore, type MemoryStore, type MemoryStoreOptions } from "./memory-store.js";
export {
  isResultText,
  RESULT_TEXT_BYTES,
  RESULT_TEXT_ESCAPE,
  resultTextBytes,
  resultTextOf,
  resultTextString,
} from "./result-text.js";
export type { RunContext, RunOptions, RunResult } from "./run.js";
export type {
  ClaimRequest,
  ClaimResult,
  CompletedRecord,
  CompleteRequest,
  IdempotencyRecord,
  IdempotencyStore,
  InProgressRecord,
  SynchronousCalls,
} from "./store.js";
export {
  type CheckedListFilter,
  checkListFilter,
  DEFAULT_LIST_LIMIT,
  decodeListCursor,
  encodeListCursor,
  type ListFilter,
  type ListPage,
  MAX_LIST_LIMIT,
  type RecordSummary,
} from "./store-listing.js";
export { MAX_STORE_DURATION_MS, type StoreOptionChecks, storeOptionChecks } from "./store-options.js";
export { decodeStoreText, encodeStoreText } from "./store-text.js";
export {
  DEFAULT_TRANSACTION_WAIT_MS,
  type TransactionalBusy,
  type TransactionalClaim,
  type TransactionalOutput,
  type TransactionalResult,
  type TransactionalStore,
} from "./transactional.js";
export { type SignalSource, workContext } from "./work-context.js";
