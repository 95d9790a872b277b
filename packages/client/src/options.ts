/** How `idempotentFetch` retries one logical operation. */
export interface IdempotentFetchOptions {
  /** The operation's key, reused on every retry. Default: a fresh `crypto.randomUUID()` per call. */
  key?: string;
  /** Header carrying the key (sent as an RFC 8941 sf-string). Default `Idempotency-Key`. */
  header?: string;
  /** Retries after the first attempt. Default 4. */
  retries?: number;
  /** First backoff step; each retry doubles it, with full jitter. Default 200 ms. */
  minDelayMs?: number;
  /** Longest backoff between two attempts. Default 10 s. */
  maxDelayMs?: number;
  /** `Retry-After` is honoured up to this long; a longer one is cut to it. Default 30 s. */
  maxRetryAfterMs?: number;
  /** Bound on each attempt; an attempt past it is abandoned and retried (same key). Default none. */
  attemptTimeoutMs?: number;
  /** Which statuses are retried. Default: 5xx, 408, 409, 425, 429. Never 400 or 422. */
  retryOn?: (status: number) => boolean;
  /** Called before each retry, for logging and metrics. */
  onRetry?: (retry: RetryInfo) => void;
  /** The fetch to use. Default `globalThis.fetch`. */
  fetch?: typeof globalThis.fetch;
}

export interface RetryInfo {
  key: string;
  /** The attempt that just failed, from 1. */
  attempt: number;
  delayMs: number;
  /** The status that is retried, or the network error. */
  status?: number;
  error?: unknown;
}

/** Statuses that say "the server did not (or not yet) settle this operation: try again". */
export const defaultRetryOn = (status: number): boolean =>
  status >= 500 || status === 408 || status === 409 || status === 425 || status === 429;

/** 400 (bad or missing key) and 422 (key reused for another request) are never retried. */
export const NEVER_RETRIED = new Set([400, 422]);
