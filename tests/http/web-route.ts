import type { IncomingMessage, ServerResponse } from "node:http";
import type { HandlerContext, IdempotentHandler, Scope } from "@idemkit/core";

/**
 * Test glue: runs the behaviour suite's Web handlers as native Node routes (Express, node:http),
 * so every integration is tested with the same handlers. Not part of any package.
 */

/** The Web `Request` of a Node request: its body from a parser's value, else read from the stream. */
export async function webRequestOf(
  req: IncomingMessage & { body?: unknown; originalUrl?: string },
): Promise<Request> {
  const headers = headersOf(req);
  const hasBody = req.method !== "GET" && req.method !== "HEAD";
  let body: BodyInit | undefined;
  if (hasBody) {
    if (req.body === undefined || (req.readableEnded === false && isEmptyObject(req.body))) {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      body = Buffer.concat(chunks);
    } else body = Buffer.isBuffer(req.body) ? new Uint8Array(req.body) : JSON.stringify(req.body);
  }
  return new Request(`http://${req.headers.host}${req.originalUrl ?? req.url}`, {
    method: req.method,
    headers,
    body: hasBody ? body : undefined,
  });
}

function isEmptyObject(value: unknown): boolean {
  return (
    typeof value === "object" && value !== null && !Buffer.isBuffer(value) && Object.keys(value).length === 0
  );
}

export function headersOf(req: IncomingMessage): Headers {
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2)
    headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
  return headers;
}

/** Writes a Web `Response` through `res` in pieces (res.write/res.end), as a streaming route would. */
export async function writeThrough(res: ServerResponse, response: Response): Promise<void> {
  res.statusCode = response.status;
  response.headers.forEach((value, name) => {
    if (name !== "set-cookie") res.setHeader(name, value);
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) res.setHeader("set-cookie", cookies);
  if (response.body === null) return void res.end();
  res.flushHeaders();
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) res.write(chunk);
  res.end();
}

/** A Node route running the suite's Web handler. */
export function nodeRoute(
  handler: IdempotentHandler,
  contextOf: (req: IncomingMessage, res: ServerResponse) => HandlerContext | undefined,
) {
  return async (req: IncomingMessage, res: ServerResponse) => {
    const context = contextOf(req, res) ?? {
      key: undefined,
      fence: undefined,
      signal: new AbortController().signal,
    };
    await writeThrough(res, await handler(await webRequestOf(req), context));
  };
}

/** The suite's scope (a Web `Request` function, or "global") for a Node-typed integration. */
export function nodeScope<R extends IncomingMessage>(
  scope: Scope<Request> | undefined,
): Scope<R> | undefined {
  if (scope === undefined || scope === "global") return scope;
  return (req) => scope(new Request(`http://${req.headers.host}${req.url}`, { headers: headersOf(req) }));
}
