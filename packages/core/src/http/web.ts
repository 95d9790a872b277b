import type { HttpEntry } from "./entry.js";
import type {
  HandlerContext,
  HttpAnswer,
  HttpExchange,
  ResponseHeaders,
  RouteResponseHead,
} from "./exchange.js";
import { hasNullBody, REPLAYED_HEADER } from "./headers.js";
import { pathOfUrl } from "./target.js";

export type IdempotentHandler = (request: Request, context: HandlerContext) => Response | Promise<Response>;

/** The neutral exchange of a Web `Request`; the body is read only if core asks for it. */
export function webExchange(request: Request): HttpExchange<Request> {
  return {
    method: request.method,
    target: pathOfUrl(request.url),
    header: (name) => request.headers.get(name) ?? undefined,
    body: {
      kind: "stream",
      // A body announced longer than the cap is refused before a byte of it is read.
      read: (limit) =>
        Number(request.headers.get("content-length")) > limit
          ? Promise.resolve(undefined)
          : readWebBody(request.body, limit),
    },
    request,
  };
}

/** Web `Request` in, Web `Response` out, over the neutral entry: what `idem.wrap()` runs. */
export async function handleWeb(
  entry: HttpEntry<Request>,
  request: Request,
  handler: IdempotentHandler,
): Promise<Response> {
  const begun = await entry.begin(webExchange(request));
  if (begun.kind === "pass") {
    const passed = begun.requestBody ? withBody(request, begun.requestBody) : request;
    return handler(passed, { key: undefined, fence: undefined, signal: request.signal });
  }
  if (begun.kind === "answer") return answerResponse(begun.answer);
  const run = begun;
  let response: Response;
  try {
    response = await handler(withBody(request, run.requestBody), run.context);
  } catch (error) {
    await run.fail(error);
    throw error;
  }
  const head = responseHead(response);
  let captured: CapturedWebResponse;
  try {
    captured = await captureWebResponse(response, run, head);
  } catch (error) {
    // The body failed mid-stream: the work ran, so the key is held (410 on retry), never re-run.
    await run.finishUnreplayable(head, "incomplete").catch(() => {});
    throw error;
  }
  try {
    if (captured.rest === undefined) {
      // A literal, not `{ ...head, body }`: core's reads of a spread copy miss V8's inline caches.
      const { status, statusText, headers } = head;
      const instead = await run.finish({ status, statusText, headers, body: captured.bytes });
      if (instead) return answerResponse(instead);
      return bytesResponse(response.status, response.statusText, withoutReplayed(response), captured.bytes);
    }
    const instead = await run.finishUnreplayable(head, captured.reason);
    if (!instead) {
      const { status, statusText } = response;
      return new Response(captured.rest, { status, statusText, headers: withoutReplayed(response) });
    }
    await captured.rest?.cancel();
    return answerResponse(instead);
  } catch (error) {
    // An option threw after the work ran: neither store nor release; the key frees with the lease.
    run.abandon();
    throw error;
  }
}

/** A Web response as core stores it: whole, or (streamed, or over the cap) the stream to pass on. */
export type CapturedWebResponse =
  | { head: RouteResponseHead; bytes: Uint8Array; rest?: undefined }
  | { head: RouteResponseHead; reason: "streamed" | "oversized"; rest: ReadableStream<Uint8Array> | null };

export async function captureWebResponse(
  response: Response,
  policy: { streams(head: RouteResponseHead): boolean; maxResponseBytes: number },
  head: RouteResponseHead = responseHead(response),
): Promise<CapturedWebResponse> {
  if (policy.streams(head)) return { head, reason: "streamed", rest: response.body };
  const read = await readUpTo(response.body, policy.maxResponseBytes);
  return read.rest === undefined
    ? { head, bytes: read.bytes }
    : { head, reason: "oversized", rest: read.rest };
}

export function answerResponse(answer: HttpAnswer): Response {
  return bytesResponse(answer.status, answer.statusText, new Headers(answer.headers), answer.body);
}

/** A response with a whole body and its `Content-Length`, as every replay of it will have. */
export function bytesResponse(
  status: number,
  statusText: string,
  headers: Headers,
  body: Uint8Array,
): Response {
  const empty = hasNullBody(status);
  // The body is whole: a `Transfer-Encoding` the route set (Hono's streamText) would contradict the
  // length, a response HTTP/1.1 forbids and clients refuse.
  headers.delete("transfer-encoding");
  if (!empty) headers.set("content-length", String(body.length));
  return new Response(empty ? null : (body as Uint8Array<ArrayBuffer>), { status, statusText, headers });
}

export function withoutReplayed(response: Response): Headers {
  const headers = new Headers(response.headers);
  headers.delete(REPLAYED_HEADER);
  return headers;
}

/** The request as the handler gets it: with the bytes core read, when it had to read them. */
function withBody(request: Request, body: Uint8Array | undefined): Request {
  if (body === undefined) return request;
  const hasBody = body.length > 0 && request.method !== "GET" && request.method !== "HEAD";
  return new Request(request.url, {
    method: request.method,
    headers: request.headers,
    body: hasBody ? (body as Uint8Array<ArrayBuffer>) : null,
    signal: request.signal,
  });
}

function responseHead(response: Response): RouteResponseHead {
  return {
    status: response.status,
    statusText: response.statusText,
    headers: headerRecord(response.headers),
  };
}

function headerRecord(headers: Headers): ResponseHeaders {
  const record: Record<string, string | string[]> = {};
  headers.forEach((value, name) => {
    if (name !== "set-cookie") record[name] = value;
  });
  const cookies = headers.getSetCookie();
  if (cookies.length > 0) record["set-cookie"] = cookies;
  return record;
}

async function readWebBody(
  body: ReadableStream<Uint8Array> | null,
  limit: number,
): Promise<Uint8Array | undefined> {
  const read = await readUpTo(body, limit);
  if (read.rest === undefined) return read.bytes;
  await read.rest.cancel();
  return undefined;
}

type ReadUpTo =
  | { bytes: Uint8Array; rest?: undefined }
  | { bytes?: undefined; rest: ReadableStream<Uint8Array> };

/** Reads a body up to `limit` bytes; past it, gives back a stream of what was read plus the remainder. */
async function readUpTo(body: ReadableStream<Uint8Array> | null, limit: number): Promise<ReadUpTo> {
  if (body === null) return { bytes: new Uint8Array(0) };
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
      return { rest };
    }
  }
  if (chunks.length === 1) return { bytes: chunks[0]! };
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return { bytes };
}
