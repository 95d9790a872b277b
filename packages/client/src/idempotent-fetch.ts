import { backoffDelay, retryAfterMs, sleep } from "./backoff.js";
import { defaultRetryOn, type IdempotentFetchOptions, NEVER_RETRIED } from "./options.js";
import { isReplayed, remember } from "./response-info.js";

/**
 * `fetch` for one logical operation that must happen once: sends an `Idempotency-Key` (minted once,
 * reused on every retry) and retries network errors, timeouts, 5xx, 408, 409, 425 and 429 with
 * exponential backoff and jitter, honouring `Retry-After`. 400 and 422 are returned at once.
 * `idempotencyOf(response)` tells whether the answer was a replay and how many attempts it took.
 */
export async function idempotentFetch(
  input: RequestInfo | URL,
  init?: RequestInit,
  options: IdempotentFetchOptions = {},
): Promise<Response> {
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const key = options.key ?? globalThis.crypto.randomUUID();
  const header = options.header ?? "Idempotency-Key";
  const retries = options.retries ?? 4;
  const minDelayMs = options.minDelayMs ?? 200;
  const maxDelayMs = options.maxDelayMs ?? 10_000;
  const maxRetryAfterMs = options.maxRetryAfterMs ?? 30_000;
  const retryOn = options.retryOn ?? defaultRetryOn;

  // Read the body once, so every attempt sends the same bytes (a stream can be read only once).
  const request = new Request(input, init);
  const body = request.body === null ? null : await request.arrayBuffer();
  const signal = init?.signal ?? request.signal;

  for (let attempt = 1; ; attempt++) {
    const headers = new Headers(request.headers);
    headers.set(header, sfString(key));
    const attemptSignal = options.attemptTimeoutMs
      ? AbortSignal.any([signal, AbortSignal.timeout(options.attemptTimeoutMs)])
      : signal;
    let delayMs: number;
    let failure: { status?: number; error?: unknown };
    try {
      const response = await fetchImpl(request.url, {
        ...init,
        method: request.method,
        headers,
        body,
        signal: attemptSignal,
      });
      const retryable = !NEVER_RETRIED.has(response.status) && retryOn(response.status);
      if (!retryable || attempt > retries) {
        return remember(response, { key, replayed: isReplayed(response), attempts: attempt });
      }
      const asked = retryAfterMs(response.headers.get("retry-after"));
      delayMs =
        asked !== undefined
          ? Math.min(asked, maxRetryAfterMs)
          : backoffDelay(attempt, minDelayMs, maxDelayMs);
      failure = { status: response.status };
      await response.body?.cancel().catch(() => {});
    } catch (error) {
      // The caller's own abort ends the operation; anything else (network, attempt timeout) is retried.
      if (signal.aborted || attempt > retries) throw error;
      delayMs = backoffDelay(attempt, minDelayMs, maxDelayMs);
      failure = { error };
    }
    options.onRetry?.({ key, attempt, delayMs, ...failure });
    await sleep(delayMs, signal);
  }
}

/** The key as an RFC 8941 sf-string: `"…"` with `\` and `"` escaped. */
function sfString(key: string): string {
  return `"${key.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}
