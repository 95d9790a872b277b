export { backoffDelay, retryAfterMs } from "./backoff.js";
export { idempotentFetch } from "./idempotent-fetch.js";
export { defaultRetryOn, type IdempotentFetchOptions, type RetryInfo } from "./options.js";
export { type IdempotencyInfo, idempotencyOf, isReplayed } from "./response-info.js";
export { type WithIdempotencyOptions, withIdempotency } from "./with-idempotency.js";
