import type { IncomingMessage } from "node:http";
import { Readable } from "node:stream";

export interface ToWebRequestOptions {
  /** Origin of the URL (`https://api.example.com`). Default: from the socket and the `Host` header. */
  origin?: string;
}

/**
 * Turns a node:http request into a Web `Request`. The body is streamed, not buffered here, and the
 * request's signal fires when the client goes away before the request was read.
 */
export function toWebRequest(req: IncomingMessage, options: ToWebRequestOptions = {}): Request {
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
  }
  const controller = new AbortController();
  req.once("close", () => {
    if (!req.complete) controller.abort();
  });
  const method = req.method ?? "GET";
  const hasBody = method !== "GET" && method !== "HEAD";
  const encrypted = (req.socket as { encrypted?: boolean } | undefined)?.encrypted === true;
  const origin = options.origin ?? `${encrypted ? "https" : "http"}://${req.headers.host ?? "localhost"}`;
  return new Request(new URL(req.url ?? "/", origin), {
    method,
    headers,
    body: hasBody ? (Readable.toWeb(req) as ReadableStream<Uint8Array>) : null,
    signal: controller.signal,
    duplex: "half",
  } as RequestInit);
}
