import { type ServerResponse, STATUS_CODES } from "node:http";
import {
  type HttpAnswer,
  hasNullBody,
  REPLAYED_HEADER,
  type ResponseHeaders,
  type RouteResponse,
} from "@idemkit/core";
import { rawMethods } from "./captive-prototype.js";
import { headersSentOf } from "./lookups.js";

/** Headers that follow from how the body is sent, never copied from a snapshot. */
const FRAMING = new Set(["content-length", "transfer-encoding"]);

export interface AnswerOptions {
  /** Headers the request had before idemkit answered (CORS, security headers): they stay. */
  inherited?: ResponseHeaders;
  /** End the connection with the answer (a body left partly unread). */
  closeConnection?: boolean;
  /** The route already wrote into a capture: send with node:http's own methods (see `rawMethods`). */
  afterCapture?: boolean;
}

/** Writes an answer idemkit made (a replay, a problem) whole, `Content-Length` included. */
export function writeAnswer(res: ServerResponse, answer: HttpAnswer, options: AnswerOptions = {}): void {
  const headers = answerHeaders(answer, options.closeConnection && res.req.httpVersionMajor < 2);
  writeWhole(
    res,
    answer.status,
    answer.statusText,
    { ...options.inherited, ...headers },
    answer.body,
    options.afterCapture,
  );
}

/**
 * An answer's headers as node:http takes them: a name sent more than once as an array. With
 * `closeConnection`, `Connection: close` (a body left unread ends the connection with the answer).
 */
export function answerHeaders(
  answer: HttpAnswer,
  closeConnection = false,
): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of answer.headers) {
    const seen = headers[name];
    headers[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  if (closeConnection) headers.connection = "close";
  return headers;
}

/**
 * Writes the route's own response from its snapshot, whole, as every replay of it will be, with
 * node:http's own methods: the route's writes already went through any wrapper on their way into
 * the capture (compression compressed them; a second call would find it done and do nothing).
 * `touched`: a header of `res` changed after the snapshot (the capture tells), or one it has must
 * not go out as it stands (`sendableAsItStands`).
 */
export function writeRouteResponse(
  res: ServerResponse,
  response: RouteResponse,
  sent: { chunk: unknown; encoding: BufferEncoding | undefined } | undefined,
  touched: boolean,
): void {
  if (touched || !unchangedSince(res, response)) {
    writeWhole(res, response.status, response.statusText ?? "", response.headers, response.body, true);
    return;
  }
  // The common case: nothing touched `res` since the snapshot, so it is sent as it stands, with the
  // body as the route handed it (a string goes out in one write with the head).
  const { end } = rawMethods(res);
  try {
    if (sent !== undefined && typeof sent.chunk === "string")
      end.call(res, sent.chunk, sent.encoding ?? "utf8");
    else end.call(res, response.body.length > 0 ? response.body : undefined);
  } catch {
    res.destroy();
  }
}

/**
 * Whether a response with these headers (the snapshot's, as the route set them) may go out as `res`
 * stands: not with a replay marker the route set (core drops it from what is stored) nor with its
 * own framing. Read from the snapshot: while the capture saw no change (`touched`), `res` has them.
 */
export function sendableAsItStands(headers: Readonly<ResponseHeaders>): boolean {
  return headers[REPLAYED_HEADER] === undefined && headers["transfer-encoding"] === undefined;
}

/** Whether `res` still has the status of the snapshot and nothing went out yet. */
function unchangedSince(res: ServerResponse, response: RouteResponse): boolean {
  return (
    !headersSentOf(res) &&
    res.statusCode === response.status &&
    (res.statusMessage || undefined) === (response.statusText || undefined)
  );
}

/**
 * Status, headers (`Content-Length` from the body, none for 204 and 304) and body in one `end`.
 * Only these headers go out: whatever else was set on `res` (an error handler's, after the route
 * answered) is dropped. A response node:http refuses, or a socket already gone, destroys the
 * connection instead of throwing.
 */
function writeWhole(
  res: ServerResponse,
  status: number,
  statusText: string,
  headers: Readonly<ResponseHeaders>,
  body: Uint8Array,
  afterCapture = false,
): void {
  try {
    if (headersSentOf(res)) throw new Error("headers already sent");
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    for (const name in headers) {
      const value = headers[name];
      if (value !== undefined && !FRAMING.has(name)) res.setHeader(name, value as string | string[]);
    }
    // Set, not left to node:http: once a length was removed above, it would send the body chunked.
    if (!hasNullBody(status)) res.setHeader("content-length", body.length);
    res.statusCode = status;
    res.statusMessage = statusText || STATUS_CODES[status] || "unknown";
    const end = afterCapture ? rawMethods(res).end : res.end;
    end.call(res, body.length > 0 ? body : undefined);
  } catch {
    res.destroy();
  }
}
