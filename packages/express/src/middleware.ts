import {
  attachedBodyBytes,
  createIdempotency,
  type HandlerContext,
  type HttpOptions,
  type Idempotency,
  type IdempotencyOptions,
} from "@idemkit/core";
import type { Request as ExpressRequest, Response as ExpressResponse, RequestHandler } from "express";
import { captureResponse } from "./capture-response.js";
import { toWebRequest } from "./to-web-request.js";

export interface ExpressIdempotencyOptions extends Omit<HttpOptions, "scope"> {
  /** Tenant, user or API-key id the key belongs to, read from the Express request (`req.user.id`). */
  scope?: (req: ExpressRequest) => string | undefined | Promise<string | undefined>;
}

const HANDLED = Symbol("idemkit.handled");
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

declare global {
  namespace Express {
    interface Locals {
      /** The idempotency key, fence and lease signal of the running request. */
      idempotency?: HandlerContext;
    }
  }
}

/**
 * Express middleware: `app.use(idempotency(idem))` or per route `app.post("/x", idempotency(idem, { … }), …)`.
 * Claim, replay, conflict and mismatch are decided by idemkit core; this only moves the request in
 * and the response out. The route's response is held back and stored before the client receives it.
 * Mount it after your body parsers: a body none of them read is read here and left in `req.body` as
 * a `Buffer`, like `express.raw()`. Mounted both app-wide and on a route, the first one handles a request.
 */
export function idempotency(
  instance: Idempotency | IdempotencyOptions,
  options: ExpressIdempotencyOptions = {},
): RequestHandler {
  const base = "handle" in instance ? instance : createIdempotency(instance);
  const expressRequests = new WeakMap<Request, ExpressRequest>();
  const { scope, ...http } = options;
  const idem =
    Object.keys(options).length === 0
      ? base
      : base.withOptions({
          ...http,
          ...(scope && { scope: (request: Request) => scope(expressRequests.get(request)!) }),
        });

  return (req, res, next) => {
    // Mounted twice on one path (app-wide and on a route): the first one handles the request.
    if ((req as { [HANDLED]?: boolean })[HANDLED]) return next();
    (req as { [HANDLED]?: boolean })[HANDLED] = true;
    let rawBody: Uint8Array | undefined;
    const request = toWebRequest(req, (bytes) => {
      rawBody = bytes;
    });
    expressRequests.set(request, req);
    let capture: ReturnType<typeof captureResponse> | undefined;

    idem
      .handle(request, (_request, context) => {
        res.locals.idempotency = context;
        if (rawBody !== undefined && req.body === undefined) req.body = Buffer.from(rawBody);
        capture = captureResponse(res);
        next();
        return capture.response;
      })
      .then(
        (response) => deliver(res, response, capture),
        (error: unknown) => {
          capture?.restore();
          if (capture?.committed) res.destroy();
          else next(error);
        },
      );
  };
}

/** Sends idemkit's answer (the route's own response once stored, or a replay/problem) to the client. */
async function deliver(
  res: ExpressResponse,
  response: Response,
  capture: ReturnType<typeof captureResponse> | undefined,
): Promise<void> {
  // While the route may still be writing (a stream), its writes keep going into the capture and
  // reach the client through `response.body`, in order; the real methods are restored at the end.
  const out = capture ?? {
    writeHead: (status: number, statusText?: string) => {
      if (statusText) res.writeHead(status, statusText);
      else res.writeHead(status);
    },
    write: (chunk: Uint8Array) => res.write(chunk),
    end: () => res.end(),
    flushHeaders: () => res.flushHeaders(),
    restore: () => {},
  };
  try {
    response.headers.forEach((value, name) => {
      if (name !== "set-cookie") res.setHeader(name, value);
    });
    const cookies = response.headers.getSetCookie();
    if (cookies.length > 0) res.setHeader("set-cookie", cookies);
    out.writeHead(response.status, response.statusText);
    if (response.body === null) {
      // A body held as bytes (the route's whole response, or a replay): written as it is.
      const bytes = attachedBodyBytes(response);
      if (bytes !== undefined && !NULL_BODY_STATUSES.has(response.status)) {
        if (res.destroyed) return;
        if (bytes.length > 0) out.write(bytes);
        else out.flushHeaders();
      }
      out.end();
      return;
    }
    const reader = response.body.getReader();
    try {
      out.flushHeaders();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (res.destroyed) {
          await reader.cancel();
          return;
        }
        if (!out.write(value)) await drainOrClose(res);
      }
      out.end();
    } catch {
      res.destroy();
    }
  } finally {
    out.restore();
  }
}

function drainOrClose(res: ExpressResponse): Promise<void> {
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
