import type { ClaimDecision, Engine, Lease } from "./engine.js";
import { StoreUnavailableError } from "./errors.js";
import { fingerprintRequest } from "./fingerprint.js";
import { composeStoredKey, parseIdempotencyKey } from "./key.js";
import { problemResponse } from "./problem.js";
import {
  DEFAULT_EXCLUDED_HEADERS,
  decodeStoredResponse,
  encodeStoredResponse,
  replayableHeaders,
} from "./stored-response.js";

export interface HandlerContext {
  /** The client's idempotency key (unscoped), or `undefined` when the request passed through. */
  key: string | undefined;
  /** The fence of this claim: grows with every claim of the key. `undefined` on pass-through. */
  fence: number | undefined;
  /** Fires when the lease is lost mid-handler; a new owner may be running. */
  signal: AbortSignal;
}

export type IdempotentHandler = (request: Request, context: HandlerContext) => Response | Promise<Response>;

export interface HttpOptions {
  /** Request header carrying the key. Default `Idempotency-Key`. */
  header?: string;
  /** Methods covered; others pass through untouched. Default POST and PATCH. */
  methods?: string[];
  /** Reject covered requests without a key (400). Default `true`; `false` lets them pass through. */
  required?: boolean;
  /** Tenant, user or API-key id the key belongs to; keys of different scopes never meet. */
  scope?: (request: Request) => string | undefined | Promise<string | undefined>;
  /** Custom fingerprint; default: method, path with query, canonical JSON or raw body. */
  fingerprint?: (request: Request, body: Uint8Array) => string | Promise<string>;
  /** Wait for an in-flight original and replay it, instead of answering 409. Default off. */
  waitForInFlight?: boolean | { timeoutMs?: number; pollMs?: number };
  /** Which final statuses are stored. Default: below 500, except 408, 425 and 429. */
  shouldStore?: (status: number) => boolean;
  /** Response headers never stored, in addition to the built-in deny-list. */
  excludeHeaders?: string[];
  /** Largest body stored for replay. Larger responses are delivered, and marked not replayable. */
  maxResponseBytes?: number;
  /** Largest request body read for fingerprinting; larger requests get 413 and do not run. Default 1 MiB. */
  maxRequestBytes?: number;
  /** `Retry-After` seconds on 409. Default 1. */
  conflictRetryAfterSeconds?: number;
  /** `Retry-After` seconds on 503. Default 2. */
  unavailableRetryAfterSeconds?: number;
  /** When the store fails: `closed` answers 503 (default); `open` runs the handler unprotected. */
  onStoreUnavailable?: "closed" | "open";
}

const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);
const UNSTORED_STATUSES = new Set([408, 425, 429]);
const defaultShouldStore = (status: number) => status < 500 && !UNSTORED_STATUSES.has(status);

/** Turns `HttpOptions` into one request handler over the state machine. */
export function createHttpHandler(engine: Engine, keyPrefix: string, options: HttpOptions = {}) {
  const headerName = options.header ?? "Idempotency-Key";
  const methods = new Set((options.methods ?? ["POST", "PATCH"]).map((m) => m.toUpperCase()));
  const required = options.required ?? true;
  const shouldStore = options.shouldStore ?? defaultShouldStore;
  const excluded = new Set([
    ...DEFAULT_EXCLUDED_HEADERS,
    ...(options.excludeHeaders ?? []).map((h) => h.toLowerCase()),
  ]);
  const maxResponseBytes = options.maxResponseBytes ?? 1024 * 1024;
  const maxRequestBytes = options.maxRequestBytes ?? 1024 * 1024;
  const conflictRetryAfter = String(options.conflictRetryAfterSeconds ?? 1);
  const unavailableRetryAfter = String(options.unavailableRetryAfterSeconds ?? 2);
  const wait = options.waitForInFlight
    ? {
        timeoutMs:
          (typeof options.waitForInFlight === "object" && options.waitForInFlight.timeoutMs) || 10_000,
        pollMs: (typeof options.waitForInFlight === "object" && options.waitForInFlight.pollMs) || 50,
      }
    : undefined;

  const passThrough = (request: Request, handler: IdempotentHandler) =>
    handler(request, { key: undefined, fence: undefined, signal: request.signal });

  return async function handle(request: Request, handler: IdempotentHandler): Promise<Response> {
    if (!methods.has(request.method.toUpperCase())) return passThrough(request, handler);

    const header = request.headers.get(headerName);
    if (header === null) {
      if (!required) return passThrough(request, handler);
      return problemResponse(
        400,
        "key-missing",
        "Idempotency key missing",
        `This request needs an ${headerName} header.`,
      );
    }
    let key: string;
    try {
      key = parseIdempotencyKey(header);
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      return problemResponse(400, "key-invalid", "Idempotency key invalid", detail);
    }

    const read = await readUpTo(request.body, maxRequestBytes);
    if (!read.complete) {
      await read.rest.cancel();
      return problemResponse(
        413,
        "request-too-large",
        "Request body too large",
        `Requests with an idempotency key may carry at most ${maxRequestBytes} bytes of body.`,
      );
    }
    const body = read.bytes;
    const fingerprint = options.fingerprint
      ? await options.fingerprint(request, body)
      : await fingerprintRequest(request.method, request.url, request.headers.get("content-type"), body);
    const storedKey = composeStoredKey(keyPrefix, (await options.scope?.(request)) ?? "", key);
    const fresh = () => rebuildRequest(request, body);

    let decision: ClaimDecision;
    try {
      decision = wait
        ? await engine.claimOrWait(storedKey, fingerprint, wait.timeoutMs, wait.pollMs)
        : await engine.claim(storedKey, fingerprint);
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      if (options.onStoreUnavailable === "open") return passThrough(fresh(), handler);
      return problemResponse(
        503,
        "store-unavailable",
        "Idempotency store unavailable",
        "The request was not processed because its idempotency key could not be checked. Retry later.",
        { headers: { "retry-after": unavailableRetryAfter } },
      );
    }

    switch (decision.kind) {
      case "mismatch":
        return problemResponse(
          422,
          "key-reused",
          "Idempotency key reused",
          "This idempotency key was already used with a different request (method, path or body).",
        );
      case "conflict":
        return problemResponse(
          409,
          "request-in-progress",
          "Request in progress",
          "A request with this idempotency key is still being processed. Retry later.",
          { headers: { "retry-after": conflictRetryAfter } },
        );
      case "replay":
        return replay(decision.record.result);
      case "acquired":
        return runOwned(fresh(), key, decision.lease, handler);
    }
  };

  async function runOwned(
    request: Request,
    key: string,
    lease: Lease,
    handler: IdempotentHandler,
  ): Promise<Response> {
    let response: Response;
    try {
      response = await handler(request, { key, fence: lease.fence, signal: lease.signal });
    } catch (error) {
      await lease.release("error");
      throw error;
    }
    let captured: Captured;
    try {
      if (!shouldStore(response.status)) {
        await lease.release("not-stored");
        return response;
      }
      captured = await readUpTo(response.body, maxResponseBytes);
    } catch (error) {
      // The handler ran but its body failed: neither store nor release; the key frees after the lease.
      lease.abandon();
      throw error;
    }
    const headers = replayableHeaders(response.headers, excluded);
    const { status, statusText } = response;
    if (captured.complete) {
      // Stored before the client sees it, so an immediate retry replays instead of getting 409.
      await lease.complete(encodeStoredResponse({ status, statusText, headers, body: captured.bytes }));
      return new Response(
        NULL_BODY_STATUSES.has(status) ? null : (captured.bytes as Uint8Array<ArrayBuffer>),
        {
          status,
          statusText,
          headers: response.headers,
        },
      );
    }
    // Too large to store: the work is done, so the key is completed (never released) with a marker
    // that replays as "not replayable", and this client still receives the whole body.
    await lease.complete(
      encodeStoredResponse({
        status,
        statusText,
        headers,
        body: new Uint8Array(0),
        oversized: { bytes: maxResponseBytes },
      }),
    );
    return new Response(captured.rest, { status, statusText, headers: response.headers });
  }

  function replay(result: Uint8Array): Response {
    const stored = decodeStoredResponse(result);
    if (stored.oversized) {
      return problemResponse(
        410,
        "response-not-replayable",
        "Response not replayable",
        `The request with this idempotency key was processed (status ${stored.status}), but its response was larger than ${stored.oversized.bytes} bytes and was not stored.`,
        { headers: { "idempotent-replayed": "true" }, members: { originalStatus: stored.status } },
      );
    }
    const headers = new Headers(stored.headers);
    headers.set("idempotent-replayed", "true");
    return new Response(
      NULL_BODY_STATUSES.has(stored.status) ? null : (stored.body as Uint8Array<ArrayBuffer>),
      {
        status: stored.status,
        statusText: stored.statusText,
        headers,
      },
    );
  }
}

function rebuildRequest(request: Request, body: Uint8Array): Request {
  const hasBody = body.length > 0 && request.method !== "GET" && request.method !== "HEAD";
  return new Request(request.url, {
    method: request.method,
    headers: request.headers,
    body: hasBody ? (body as Uint8Array<ArrayBuffer>) : null,
    signal: request.signal,
  });
}

type Captured = { complete: true; bytes: Uint8Array } | { complete: false; rest: ReadableStream<Uint8Array> };

/** Reads a body up to `limit` bytes; past it, returns a stream of what was read plus the remainder. */
async function readUpTo(body: ReadableStream<Uint8Array> | null, limit: number): Promise<Captured> {
  if (body === null) return { complete: true, bytes: new Uint8Array(0) };
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    total += value.length;
    if (total > limit) {
      const rest = new ReadableStream<Uint8Array>({
        start(controller) {
          for (const chunk of chunks) controller.enqueue(chunk);
        },
        async pull(controller) {
          const next = await reader.read();
          if (next.done) controller.close();
          else controller.enqueue(next.value);
        },
        cancel(reason) {
          return reader.cancel(reason);
        },
      });
      return { complete: false, rest };
    }
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return { complete: true, bytes };
}
