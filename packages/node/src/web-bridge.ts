import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import { routedTarget } from "@idemkit/core";
import { internalError } from "./middleware.js";

export type FetchHandler = (request: Request) => Response | Promise<Response>;

export interface RequestListenerOptions {
  /** Origin of request URLs (`https://api.example.com`). Default: from the socket and a valid `Host`. */
  origin?: string;
  /** Called when the handler throws; the client gets a bare 500 (default logs to `console.error`). */
  onError?: (error: unknown, request: Request | undefined) => void;
}

// RFC 3986 host (an IP literal or a reg-name) with an optional port: anything else (`a:b:c`, a path,
// `<`) never reaches a URL, so it can neither throw nor move the path.
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::\d{1,5})?$/;

/**
 * Turns a node:http request into a Web `Request`. Never throws: a `Host` that cannot form an origin
 * is replaced by `localhost`, and a target is joined to the origin as text (`//x` stays a path,
 * never a host). The body is streamed, not buffered; the signal fires when the client goes away
 * before the request was read.
 */
export function toWebRequest(
  req: IncomingMessage,
  options: Pick<RequestListenerOptions, "origin"> = {},
): Request {
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    try {
      headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
    } catch {
      // A header node:http accepted but Web Headers refuse (a value over 0xFF): left out.
    }
  }
  const controller = new AbortController();
  req.once("close", () => {
    if (!req.complete) controller.abort();
  });
  const method = req.method ?? "GET";
  const hasBody = method !== "GET" && method !== "HEAD";
  return new Request(requestUrl(req, options.origin), {
    method,
    headers,
    body: hasBody ? (Readable.toWeb(req) as ReadableStream<Uint8Array>) : null,
    signal: controller.signal,
    duplex: "half",
  } as RequestInit);
}

function requestUrl(req: IncomingMessage, origin: string | undefined): string {
  const encrypted = (req.socket as { encrypted?: boolean } | undefined)?.encrypted === true;
  const host = req.headers.host;
  const base = origin ?? `${encrypted ? "https" : "http"}://${host && HOST.test(host) ? host : "localhost"}`;
  const target = req.url ?? "/";
  for (const candidate of [target.startsWith("/") ? base + target : target, `${base}/`]) {
    try {
      return new URL(candidate).href;
    } catch {
      // Not a URL (garbage after the origin, an authority-form target): the next candidate.
    }
  }
  return "http://localhost/";
}

/**
 * Writes a Web `Response` to a node:http response: status, headers (each `Set-Cookie` on its own
 * line), then the body chunk by chunk with backpressure, so streams (server-sent events) flow as they
 * are produced. A response node:http refuses (a control character in a header) becomes a bare 500.
 * If the client goes away the body is cancelled; if the body fails the socket is destroyed, so the
 * client sees a truncated response, never a complete-looking one.
 */
export async function sendWebResponse(res: ServerResponse, response: Response): Promise<void> {
  try {
    res.statusCode = response.status;
    if (response.statusText) res.statusMessage = response.statusText;
    response.headers.forEach((value, name) => {
      if (name !== "set-cookie") res.setHeader(name, value);
    });
    const cookies = response.headers.getSetCookie();
    if (cookies.length > 0) res.setHeader("set-cookie", cookies);
  } catch {
    response.body?.cancel().catch(() => {});
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    return internalError(res);
  }
  if (response.body === null) return void res.end();
  const reader = response.body.getReader();
  const closed = () => res.destroyed || res.writableEnded;
  const onClose = () => {
    if (!res.writableFinished) reader.cancel().catch(() => {});
  };
  res.once("close", onClose);
  try {
    res.flushHeaders();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (closed()) return;
      if (!res.write(value)) await drainOrClose(res);
    }
    if (!closed()) res.end();
  } catch (error) {
    res.destroy(error instanceof Error ? error : new Error(String(error)));
  } finally {
    res.off("close", onClose);
  }
}

function badRequest(res: ServerResponse): void {
  res.statusCode = 400;
  res.setHeader("content-type", "text/plain; charset=utf-8");
  res.setHeader("connection", "close");
  res.end("Bad Request: the request target is neither a path nor an absolute URL");
}

function drainOrClose(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const go = () => {
      res.off("drain", go);
      res.off("close", go);
      resolve();
    };
    res.on("drain", go);
    res.on("close", go);
  });
}

/**
 * A node:http request listener that runs a Web `fetch` handler, `idem.wrap(handler)` included:
 * `createServer(createRequestListener(idem.wrap(handler)))`. Never throws; a handler that throws
 * gets a bare 500 (or a cut connection once the response was under way).
 */
export function createRequestListener(
  fetch: FetchHandler,
  options: RequestListenerOptions = {},
): (req: IncomingMessage, res: ServerResponse) => void {
  const onError = options.onError ?? ((error: unknown) => console.error(error));
  return (req, res) => {
    // `*` (asterisk-form) is a target only for OPTIONS; as a URL it would pass for `/`.
    if (routedTarget(req.url ?? "") === undefined && req.method !== "OPTIONS") return badRequest(res);
    let request: Request | undefined;
    Promise.resolve()
      .then(() => {
        request = toWebRequest(req, options);
        return fetch(request);
      })
      .then(
        (response) => sendWebResponse(res, response),
        (error: unknown) => {
          onError(error, request);
          internalError(res);
        },
      )
      .catch(() => res.destroy());
  };
}
