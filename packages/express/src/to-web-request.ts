import type { Request as ExpressRequest } from "express";

/**
 * The Web `Request` idemkit sees for an Express request: method, URL, headers and the body. A body
 * a parser already read comes from `req.body` (raw bytes as they are, parsed values as JSON); an
 * unread body streams from the socket, and is read only if the request is covered.
 */
export function toWebRequest(req: ExpressRequest, onBodyRead: (bytes: Uint8Array) => void): Request {
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2)
    headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
  const url = new URL(req.originalUrl || req.url, `${req.protocol}://${req.get("host") ?? "localhost"}`);
  const method = req.method;
  if (method === "GET" || method === "HEAD") return new Request(url, { method, headers });

  const consumed = req.body !== undefined || req.readableEnded;
  let body: BodyInit | null;
  if (consumed) body = parsedBody(req.body);
  else {
    const chunks: Uint8Array[] = [];
    body = new ReadableStream<Uint8Array>({
      start(controller) {
        req.on("data", (chunk: Buffer) => {
          chunks.push(chunk);
          controller.enqueue(new Uint8Array(chunk));
        });
        req.once("end", () => {
          onBodyRead(Buffer.concat(chunks));
          controller.close();
        });
        req.once("error", (error) => controller.error(error));
        req.pause();
      },
      pull() {
        req.resume();
      },
      cancel() {
        req.resume();
      },
    });
  }
  return new Request(url, { method, headers, body, duplex: "half" } as RequestInit);
}

function parsedBody(body: unknown): BodyInit | null {
  if (body === undefined || body === null) return null;
  if (typeof body === "string") return body;
  if (body instanceof Uint8Array) return body as Uint8Array<ArrayBuffer>;
  return JSON.stringify(body);
}
