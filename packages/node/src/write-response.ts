import { type ServerResponse, STATUS_CODES } from "node:http";
import { type HttpAnswer, hasNullBody, type RouteResponse } from "@idemkit/core";

/** Headers that follow from how the body is sent, never copied from a snapshot. */
const FRAMING = new Set(["content-length", "transfer-encoding"]);

/** Writes an answer idemkit made (a replay, a problem) whole, `Content-Length` included. */
export function writeAnswer(res: ServerResponse, answer: HttpAnswer, closeConnection = false): void {
  writeWhole(res, answer.status, answer.statusText, answerHeaders(answer, closeConnection), answer.body);
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

/** Writes the route's own response from its snapshot, whole, as every replay of it will be. */
export function writeRouteResponse(
  res: ServerResponse,
  response: RouteResponse,
  sent?: { chunk: unknown; encoding: BufferEncoding | undefined },
): void {
  if (!unchangedSince(res, response)) {
    writeWhole(res, response.status, response.statusText ?? "", response.headers, response.body);
    return;
  }
  // The common case: nothing touched `res` since the snapshot, so it is sent as it stands, with the
  // body as the route handed it (a string goes out in one write with the head).
  try {
    if (sent !== undefined && typeof sent.chunk === "string") res.end(sent.chunk, sent.encoding ?? "utf8");
    else res.end(response.body.length > 0 ? response.body : undefined);
  } catch {
    res.destroy();
  }
}

/** Whether `res` still has exactly the status and headers of the snapshot (nothing set since). */
function unchangedSince(res: ServerResponse, response: RouteResponse): boolean {
  if (res.headersSent || res.statusCode !== response.status) return false;
  if ((res.statusMessage || undefined) !== (response.statusText || undefined)) return false;
  const names = res.getHeaderNames();
  let count = 0;
  for (const name in response.headers) {
    if (response.headers[name] === undefined) continue;
    if (name === "transfer-encoding" || res.getHeader(name) !== response.headers[name]) return false;
    count++;
  }
  return names.length === count;
}

/**
 * Status, headers (`Content-Length` from the body, none for 204 and 304) and body in one `end`. Only the snapshot's headers go out: whatever else was set
 * on `res` since (an error handler's, after the route answered) is dropped. A response node:http
 * refuses, or a socket already gone, destroys the connection instead of throwing.
 */
function writeWhole(
  res: ServerResponse,
  status: number,
  statusText: string,
  headers: Readonly<Record<string, string | number | readonly string[] | undefined>>,
  body: Uint8Array,
): void {
  try {
    if (res.headersSent) throw new Error("headers already sent");
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    for (const name in headers) {
      const value = headers[name];
      if (value !== undefined && !FRAMING.has(name)) res.setHeader(name, value as string | string[]);
    }
    // Set, not left to node:http: once a length was removed above, it would send the body chunked.
    if (!hasNullBody(status)) res.setHeader("content-length", body.length);
    res.statusCode = status;
    res.statusMessage = statusText || STATUS_CODES[status] || "unknown";
    res.end(body.length > 0 ? body : undefined);
  } catch {
    res.destroy();
  }
}
