import { attachBodyBytes, attachedBodyBytes } from "./body-bytes.js";
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
  type StoredResponse,
} from "./stored-response.js";
import type { TransactionalResult, TransactionalStore } from "./transactional.js";

export interface HandlerContext {
  /** The client's idempotency key (unscoped), or `undefined` when the request passed through. */
  key: string | undefined;
  /** The fence of this claim: grows with every claim of the key. `undefined` on pass-through. */
  fence: number | undefined;
  /** Fires when the lease is lost mid-handler; a new owner may be running. */
  signal: AbortSignal;
}

export type IdempotentHandler = (request: Request, context: HandlerContext) => Response | Promise<Response>;

/** A handler in transactional mode: `context.client` is the transaction the key row is written in. */
export type TransactionalHandler<C> = (
  request: Request,
  context: HandlerContext & { fence: number; client: C },
) => Response | Promise<Response>;

type Prepared =
  | { kind: "pass" }
  | { kind: "respond"; response: Response }
  | {
      kind: "keyed";
      key: string;
      storedKey: string;
      fingerprint: string;
      fresh: () => Request;
      /** The caller attached the body as bytes and reads responses with bytes attached too. */
      bytes: boolean;
    };

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
  /**
   * Responses streamed straight through instead of buffered for storage (server-sent events, say).
   * The key is completed with a "not replayable" marker before the first byte is sent, so a retry
   * gets 410 and never runs the work again. Default: `content-type: text/event-stream`.
   */
  streaming?: (response: Response) => boolean;
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
const defaultStreaming = (response: Response) =>
  /^\s*text\/event-stream\b/i.test(response.headers.get("content-type") ?? "");

/** Turns `HttpOptions` into one request handler over the state machine. */
export function createHttpHandler(engine: Engine, keyPrefix: string, options: HttpOptions = {}) {
  const headerName = options.header ?? "Idempotency-Key";
  const methods = new Set((options.methods ?? ["POST", "PATCH"]).map((m) => m.toUpperCase()));
  const required = options.required ?? true;
  const shouldStore = options.shouldStore ?? defaultShouldStore;
  const streaming = options.streaming ?? defaultStreaming;
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

  const unavailable = () =>
    problemResponse(
      503,
      "store-unavailable",
      "Idempotency store unavailable",
      "The request was not processed because its idempotency key could not be checked. Retry later.",
      { headers: { "retry-after": unavailableRetryAfter } },
    );

  /** Everything before the claim: coverage, key, body, fingerprint, scope. */
  async function prepare(request: Request): Promise<Prepared> {
    if (!methods.has(request.method.toUpperCase())) return { kind: "pass" };
    const header = request.headers.get(headerName);
    if (header === null) {
      if (!required) return { kind: "pass" };
      return {
        kind: "respond",
        response: problemResponse(
          400,
          "key-missing",
          "Idempotency key missing",
          `This request needs an ${headerName} header.`,
        ),
      };
    }
    let key: string;
    try {
      key = parseIdempotencyKey(header);
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      return {
        kind: "respond",
        response: problemResponse(400, "key-invalid", "Idempotency key invalid", detail),
      };
    }
    const attached = attachedBodyBytes(request);
    const read: Captured =
      attached === undefined
        ? await readUpTo(request.body, maxRequestBytes)
        : attached.length > maxRequestBytes
          ? { complete: false, rest: new ReadableStream() }
          : { complete: true, bytes: attached };
    if (!read.complete) {
      await read.rest.cancel();
      return {
        kind: "respond",
        response: problemResponse(
          413,
          "request-too-large",
          "Request body too large",
          `Requests with an idempotency key may carry at most ${maxRequestBytes} bytes of body.`,
        ),
      };
    }
    const body = read.bytes;
    const fingerprint = options.fingerprint
      ? await options.fingerprint(request, body)
      : await fingerprintRequest(request.method, request.url, request.headers.get("content-type"), body);
    const storedKey = composeStoredKey(keyPrefix, (await options.scope?.(request)) ?? "", key);
    // A request whose body was attached as bytes was never read: the handler gets it as it is.
    const fresh = attached === undefined ? () => rebuildRequest(request, body) : () => request;
    return { kind: "keyed", key, storedKey, fingerprint, fresh, bytes: attached !== undefined };
  }

  /** The answer to a claim that did not acquire the key. */
  function answer(decision: Exclude<ClaimDecision, { kind: "acquired" }>, bytes = false): Response {
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
        return replay(decision.record.result, bytes);
    }
  }

  async function handle(request: Request, handler: IdempotentHandler): Promise<Response> {
    const prepared = await prepare(request);
    if (prepared.kind === "pass") return passThrough(request, handler);
    if (prepared.kind === "respond") return prepared.response;
    const { key, storedKey, fingerprint, fresh, bytes } = prepared;

    let decision: ClaimDecision;
    try {
      decision = wait
        ? await engine.claimOrWait(storedKey, fingerprint, wait.timeoutMs, wait.pollMs)
        : await engine.claim(storedKey, fingerprint);
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      if (options.onStoreUnavailable === "open") return passThrough(fresh(), handler);
      return unavailable();
    }
    if (decision.kind !== "acquired") return answer(decision, bytes);
    return runOwned(fresh, key, decision.lease, handler);
  }

  /**
   * Transactional mode (DESIGN §5): the key row, the handler's writes through `context.client` and
   * the stored response commit together. A duplicate waits in the database for the first to commit
   * (then replays) or roll back (then runs). A 5xx, 408/425/429 or a throw rolls everything back.
   */
  async function handleInTransaction<C>(
    store: TransactionalStore<C>,
    request: Request,
    handler: TransactionalHandler<C>,
  ): Promise<Response> {
    const prepared = await prepare(request);
    if (prepared.kind === "respond") return prepared.response;
    if (prepared.kind === "pass") {
      if (!methods.has(request.method.toUpperCase())) {
        throw new TypeError(`Transactional routes need a covered method; ${request.method} is not one`);
      }
      // Without a key there is nothing to write in the transaction: a transactional route requires one.
      return problemResponse(
        400,
        "key-missing",
        "Idempotency key missing",
        `This request needs an ${headerName} header.`,
      );
    }
    const { key, storedKey, fingerprint, fresh, bytes } = prepared;
    const started = performance.now();
    // Bounded like any store call until the work starts; past the bound the caller gets 503 and the
    // work, should the transaction get that far later, does not run.
    let workStarted = false;
    let abandoned = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const bound = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        if (workStarted) return;
        abandoned = true;
        reject(new Error(`no transaction within ${engine.storeTimeoutMs} ms`));
      }, engine.storeTimeoutMs);
    });
    let handlerError: { error: unknown } | undefined;
    let result: TransactionalResult<Response>;
    try {
      const transaction = store.transaction(
        storedKey,
        { fingerprint, retentionMs: engine.retentionMs },
        async (tx) => {
          if (abandoned) throw new Error("the request was already answered 503");
          workStarted = true;
          clearTimeout(timer);
          handlerError = undefined; // a serialization retry starts over
          try {
            const response = await handler(fresh(), {
              key,
              fence: tx.fence,
              signal: request.signal,
              client: tx.client,
            });
            if (!shouldStore(response.status)) {
              return { value: response, result: new Uint8Array(0), commit: false };
            }
            const outcome = await captureOutcome(response);
            return { value: outcome.deliver, result: outcome.stored, commit: true };
          } catch (error) {
            handlerError = { error };
            throw error;
          }
        },
      );
      transaction.catch(() => {}); // it may settle after the bound answered
      result = await Promise.race([transaction, bound]);
    } catch (error) {
      if (handlerError) throw handlerError.error;
      engine.emit({
        type: "store-error",
        key: storedKey,
        operation: "claim",
        durationMs: performance.now() - started,
        error,
      });
      return unavailable();
    } finally {
      clearTimeout(timer);
    }
    const durationMs = performance.now() - started;
    if (!result.acquired) {
      return answer(engine.decide(storedKey, fingerprint, result.record, durationMs), bytes);
    }
    engine.emit(
      result.committed
        ? { type: "completed", key: storedKey, fence: result.fence, durationMs, bytes: 0 }
        : { type: "released", key: storedKey, fence: result.fence, durationMs, reason: "not-stored" },
    );
    return result.value;
  }

  return { handle, handleInTransaction };

  async function runOwned(
    request: () => Request,
    key: string,
    lease: Lease,
    handler: IdempotentHandler,
  ): Promise<Response> {
    const response = await lease.run((context) =>
      handler(request(), {
        key,
        fence: context.fence,
        get signal() {
          return context.signal;
        },
      }),
    );
    try {
      if (!shouldStore(response.status)) {
        await lease.release("not-stored");
        return response;
      }
      const outcome = await captureOutcome(response);
      // Stored before the client sees it, so an immediate retry replays instead of getting 409.
      await lease.complete(outcome.stored);
      return outcome.deliver;
    } catch (error) {
      // The handler ran but its outcome could not be taken (a body that failed, a throwing option):
      // neither store nor release; stop the heartbeat so the key frees when the lease ends.
      lease.abandon();
      throw error;
    }
  }

  /**
   * What to store for a storable response, and what to deliver. A stream (SSE) or a body over the
   * cap is never buffered whole: the work is done, so a marker that replays as "not replayable" is
   * stored (never a release), and this client still receives the whole body.
   */
  async function captureOutcome(response: Response): Promise<{ stored: Uint8Array; deliver: Response }> {
    const headers = replayableHeaders(response.headers, excluded);
    const { status, statusText } = response;
    const marker = (kind: Pick<StoredResponse, "oversized" | "streamed">) =>
      encodeStoredResponse({ status, statusText, headers, body: new Uint8Array(0), ...kind });
    if (streaming(response)) return { stored: marker({ streamed: true }), deliver: response };
    const attached = attachedBodyBytes(response);
    if (attached !== undefined) {
      // Bytes the integration holds and writes itself: delivered as they are, never copied.
      if (attached.length > maxResponseBytes) {
        return { stored: marker({ oversized: { bytes: maxResponseBytes } }), deliver: response };
      }
      const body = NULL_BODY_STATUSES.has(status) ? new Uint8Array(0) : attached;
      return {
        stored: encodeStoredResponse({ status, statusText, headers, body }),
        deliver: body === attached ? response : attachBodyBytes(response, body),
      };
    }
    const captured = await readUpTo(response.body, maxResponseBytes);
    if (!captured.complete) {
      return {
        stored: marker({ oversized: { bytes: maxResponseBytes } }),
        deliver: new Response(captured.rest, { status, statusText, headers: response.headers }),
      };
    }
    const body = NULL_BODY_STATUSES.has(status) ? null : (captured.bytes as Uint8Array<ArrayBuffer>);
    return {
      stored: encodeStoredResponse({ status, statusText, headers, body: captured.bytes }),
      deliver: new Response(body, { status, statusText, headers: response.headers }),
    };
  }

  function replay(result: Uint8Array, bytes: boolean): Response {
    const stored = decodeStoredResponse(result);
    const why = stored.oversized
      ? `was larger than ${stored.oversized.bytes} bytes`
      : stored.streamed
        ? "was streamed"
        : undefined;
    if (why !== undefined) {
      return problemResponse(
        410,
        "response-not-replayable",
        "Response not replayable",
        `The request with this idempotency key was processed (status ${stored.status}), but its response ${why} and was not stored.`,
        { headers: { "idempotent-replayed": "true" }, members: { originalStatus: stored.status } },
      );
    }
    const headers = new Headers(stored.headers);
    headers.set("idempotent-replayed", "true");
    if (bytes) {
      const init = { status: stored.status, statusText: stored.statusText, headers };
      const body = NULL_BODY_STATUSES.has(stored.status) ? new Uint8Array(0) : stored.body;
      return attachBodyBytes(new Response(null, init), body);
    }
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
