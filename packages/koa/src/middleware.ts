import {
  createIdempotency,
  type HandlerContext,
  type HttpEntry,
  type HttpOptions,
  type Idempotency,
  type IdempotencyInstanceOptions,
  splitOptions,
} from "@idemkit/core";
import { internalError, nodeBody, preparePrototypes, serve } from "@idemkit/node";
import type { Context, Middleware, Next } from "koa";
import { parsedBody } from "./parsed-body.js";
import { writableWhileHeld } from "./respond.js";

/** Core's HTTP options, with `scope` and `fingerprint` reading the Koa context (`ctx.state.user.id`). */
export type KoaIdempotencyOptions = HttpOptions<Context>;

/** The state the middleware sets: `ctx.state.idempotency` is the running request's key, fence and lease signal. */
export interface IdempotencyState {
  idempotency?: HandlerContext;
}

/** Requests a mount already handles. */
const handled = new WeakSet<Context>();

/**
 * Koa middleware (Koa 2 and 3): `app.use(idempotency(idem, { scope: (ctx) => ctx.state.user.id }))`,
 * or per route. Uncovered methods go straight on, untouched. Claim, replay, conflict and mismatch
 * are decided by idemkit core; the response Koa writes for the route (`ctx.body` as a string,
 * Buffer, stream or JSON) is held back and stored before the client receives it (`@idemkit/node`'s
 * capture). Mount it after your body parsers: a body one of them read is fingerprinted from
 * `ctx.request.body` (parsed values canonically); a body none read is read from the stream and put
 * back. A route that throws has its key released and Koa answers the error as usual.
 */
export function idempotency(
  instance: Idempotency | (IdempotencyInstanceOptions & KoaIdempotencyOptions),
  options: KoaIdempotencyOptions = {},
): Middleware<IdempotencyState> {
  let idem: Idempotency;
  let http = options;
  if ("exchange" in instance) idem = instance;
  else {
    const split = splitOptions<KoaIdempotencyOptions>(instance);
    idem = createIdempotency(split.instance);
    http = { ...split.http, ...options };
  }
  const entry = idem.exchange(http, "@idemkit/koa");
  preparePrototypes();
  return (ctx, next) => {
    if (!entry.covers(ctx.method)) return next();
    // Mounted twice on one path (app-wide and on a route): the first one handles the request.
    if (handled.has(ctx)) return next();
    handled.add(ctx);
    return handle(entry, ctx, next);
  };
}

/**
 * One covered request. Koa writes the response only after the whole middleware chain settled, so
 * the middleware settles when the route did (`next()`), and Koa's respond then writes `ctx.body`
 * into the capture; an answer idemkit makes (a replay, a problem) is written by `serve`, and Koa
 * told not to respond.
 */
function handle(entry: HttpEntry<Context>, ctx: Context, next: Next): Promise<void> {
  let decided = false; // the route ran, or an error was handed on: not an answer of idemkit's
  let routeDone = false; // the route settled the middleware: Koa is responding
  let served = false; // `serve` let go of the response
  let bodyError: unknown; // the error of the body stream Koa piped, which Koa reports itself
  return new Promise<void>((resolve, reject) => {
    void serve(entry, ctx.req, ctx.res, {
      request: ctx,
      body: () => nodeBody(ctx.req, () => parsedBody(ctx)),
      route: (context) => {
        decided = true;
        if (context) {
          ctx.state.idempotency = context;
          writableWhileHeld(ctx, () => !served);
        }
        // Settles only by failing: the route's rejection, or the body stream Koa pipes failing.
        return new Promise<void>((_never, failed) => {
          // The route ran: a body that fails, even before its first byte, holds the key (410 on
          // retry), never frees it for a second run. Committed first, the capture ends as cut short;
          // and before Koa's own listener, which would answer 500 into the capture.
          const bodyFailed = (error: unknown) => {
            bodyError = error;
            if (!served) ctx.res.flushHeaders();
            failed(error);
          };
          next().then(() => {
            routeDone = true;
            if (context) ctx.res.once("pipe", (source) => source.prependOnceListener("error", bodyFailed));
            resolve();
          }, failed);
        });
      },
      error: (error) => {
        decided = true;
        // Before Koa responds, the error is the middleware's: Koa's error handling answers it (the
        // key is released). While Koa was responding, it is reported as Koa reports errors, unless it
        // is the body stream's: Koa's own listener on the stream reports that one.
        if (!routeDone) return reject(error);
        if (error === bodyError) return;
        try {
          ctx.onerror(error as Error);
        } catch {
          internalError(ctx.res); // Koa's handler failed (a header it refuses): a bare 500 or a cut
        }
      },
    }).then(() => {
      served = true;
      if (decided) return;
      ctx.respond = false; // idemkit answered: Koa must not write over it
      resolve();
    });
  });
}
