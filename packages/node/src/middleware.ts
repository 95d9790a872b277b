import type { IncomingMessage, ServerResponse } from "node:http";
import type { HandlerContext, HttpOptions, Idempotency } from "@idemkit/core";
import { preparePrototypes } from "./captive-prototype.js";
import { nodeBody } from "./read-body.js";
import { guard, serve } from "./serve.js";

export type NodeIdempotencyOptions = HttpOptions<IncomingMessage>;

/** A Connect-style middleware, the shape Express, Connect and Polka share. */
export type NodeMiddleware = (
  req: IncomingMessage,
  res: ServerResponse,
  next: (error?: unknown) => void,
) => void;

const contexts = new WeakMap<IncomingMessage, HandlerContext>();

/** The idempotency key, fence and lease signal of a request the middleware let through to run. */
export function idempotencyContext(req: IncomingMessage): HandlerContext | undefined {
  return contexts.get(req);
}

/**
 * idemkit as Connect-style middleware on node:http: `idempotency(idem, { scope })`. Uncovered
 * methods go straight to `next()`, untouched. A covered request with a key is claimed; a replay or
 * a problem is answered here; otherwise `next()` runs the route, whose response is held back and
 * stored before the client receives it (see `ResponseCapture`). The body is read only when needed,
 * and put back for the route.
 */
export function idempotency(idem: Idempotency, options: NodeIdempotencyOptions): NodeMiddleware {
  const entry = idem.exchange(options, "@idemkit/node");
  preparePrototypes();
  return (req, res, next) => {
    if (!entry.covers(req.method ?? "")) return next();
    void serve(entry, req, res, {
      request: req,
      body: () => nodeBody(req),
      route: (context) => {
        if (context) contexts.set(req, context);
        next();
      },
      error: next,
    });
  };
}

/**
 * A node:http request listener that runs `listener` idempotently:
 * `createServer(idempotentListener(idem, { scope }, (req, res) => …))`. Any Node framework's own
 * listener (a Koa `app.callback()`, an Express app) fits. A route that throws or rejects before
 * answering gets a bare 500 and its key released; `onError` sees the error (default `console.error`).
 */
export function idempotentListener(
  idem: Idempotency,
  options: NodeIdempotencyOptions & { onError?: (error: unknown, req: IncomingMessage) => void },
  listener: (req: IncomingMessage, res: ServerResponse, context: HandlerContext | undefined) => unknown,
): (req: IncomingMessage, res: ServerResponse) => void {
  const { onError = (error: unknown) => console.error(error), ...http } = options;
  const entry = idem.exchange(http, "@idemkit/node");
  preparePrototypes();
  return (req, res) => {
    const failed = (error: unknown) => {
      onError(error, req);
      internalError(res);
    };
    if (!entry.covers(req.method ?? "")) return guard(() => listener(req, res, undefined), failed);
    void serve(entry, req, res, {
      request: req,
      body: () => nodeBody(req),
      route: (context) => listener(req, res, context),
      error: failed,
    });
  };
}

/** A bare 500, or a cut connection once the response was under way. */
export function internalError(res: ServerResponse): void {
  if (res.headersSent || res.writableEnded) {
    if (!res.writableEnded) res.destroy();
    return;
  }
  try {
    res.statusCode = 500;
    res.setHeader("content-type", "text/plain; charset=utf-8");
    res.end("Internal Server Error");
  } catch {
    res.destroy();
  }
}
