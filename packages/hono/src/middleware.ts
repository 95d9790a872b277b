import {
  createIdempotency,
  type HandlerContext,
  type HttpOptions,
  type Idempotency,
  type IdempotencyInstanceOptions,
  splitOptions,
} from "@idemkit/core";
import type { Context, Env, MiddlewareHandler } from "hono";
import { inheritedOf, withInherited, withoutInherited } from "./inherited.js";
import { requestOf } from "./request.js";

/** The variables the middleware sets: `c.get("idempotency")` is the running request's key, fence and lease signal. */
export type IdempotencyVariables = { idempotency: HandlerContext };

/** The Hono environment of a route behind the middleware: `new Hono<IdempotencyEnv>()`. */
export type IdempotencyEnv = { Variables: IdempotencyVariables };

/**
 * Core's HTTP options, with `scope` and `fingerprint` reading the Hono context (`c.get("accountId")`).
 * `E` is the app's environment, for typed variables (`idempotency<AppEnv>(…)`); by default, any (as
 * Hono's own `MiddlewareHandler`), so `c.get` takes any name.
 */
// biome-ignore lint/suspicious/noExplicitAny: Hono's own default environment (its MiddlewareHandler's)
export type HonoIdempotencyOptions<E extends Env = any> = HttpOptions<Context<E>>;

/** The Hono context of each request idemkit is handling, for `scope` and `fingerprint`. */
const contexts = new WeakMap<Request, Context>();

function contextOf(request: Request): Context {
  const c = contexts.get(request);
  if (c === undefined) throw new Error("@idemkit/hono: a request idemkit is not handling");
  return c;
}

/**
 * Hono middleware: `app.use("/orders/*", idempotency(idem, { scope: (c) => c.get("accountId") }))`,
 * or per route. Built on core's Web handler (`idem.handle`): claim, replay, conflict and mismatch
 * are decided there and the route's `Response` is stored before the client receives it. Uncovered
 * methods go straight on. The route reads the running request's context with `c.get("idempotency")`.
 * A route that throws (Hono's `onError` answers) has its key released, so a retry runs again.
 */
// biome-ignore lint/suspicious/noExplicitAny: Hono's own default environment (its MiddlewareHandler's)
export function idempotency<E extends Env = any>(
  instance: Idempotency | (IdempotencyInstanceOptions & HonoIdempotencyOptions<E>),
  options: HonoIdempotencyOptions<E> = {},
): MiddlewareHandler<IdempotencyEnv> {
  const web = webInstance(instance, options);
  // `wrap` checks the options now: a missing scope or a bad option fails here, not on the first request.
  web.wrap(() => {
    throw new Error("never called");
  });
  return async (c, next) => {
    // Mounted twice on one path (app-wide and on a route): the first one handles the request.
    if (c.get("idempotency") !== undefined) return next();
    // What earlier middleware set: `c.res` holds it, `c.header()` calls included (Hono 4.8 and later).
    const inherited = inheritedOf(c.res.headers);
    const request = await requestOf(c);
    contexts.set(request, c);
    const errorBefore = c.error;
    let routeError: { error: unknown } | undefined;
    let response: Response;
    try {
      response = await web.handle(request, async (forRoute, context) => {
        if (forRoute !== c.req.raw) c.req.raw = forRoute; // idemkit read the body: this copy carries it
        c.set("idempotency", context);
        await next();
        // A route that threw was answered by Hono's `onError`: the key is released (a retry runs again).
        if (c.error !== errorBefore) {
          routeError = { error: c.error };
          throw c.error;
        }
        return context.key === undefined ? c.res : withoutInherited(c.res, inherited);
      });
    } catch (error) {
      if (routeError?.error === error) return; // `c.res` is already `onError`'s answer
      throw error;
    }
    if (response === c.res) return; // passed through untouched
    // Set afresh: assigned over the route's response, Hono would merge its headers into an answer.
    c.res = undefined;
    c.res = withInherited(response, inherited);
  };
}

/** The instance whose `handle` the middleware runs, its scope and fingerprint reading the Hono context. */
function webInstance<E extends Env>(
  instance: Idempotency | (IdempotencyInstanceOptions & HonoIdempotencyOptions<E>),
  options: HonoIdempotencyOptions<E>,
): Idempotency {
  if ("exchange" in instance) return instance.withOptions(onWebRequest(options));
  const split = splitOptions<HonoIdempotencyOptions<E>>(instance);
  return createIdempotency({ ...split.instance, ...onWebRequest({ ...split.http, ...options }) });
}

/** Options of the Hono context as options of the Web request idemkit handles. */
function onWebRequest<E extends Env>(options: HonoIdempotencyOptions<E>): HttpOptions<Request> {
  const { scope, fingerprint, ...rest } = options;
  const http: HttpOptions<Request> = rest;
  if (scope !== undefined) {
    http.scope = typeof scope === "function" ? (request) => scope(contextOf(request) as Context<E>) : scope;
  }
  if (fingerprint !== undefined) {
    http.fingerprint =
      typeof fingerprint === "function"
        ? (request, body) => fingerprint(contextOf(request) as Context<E>, body)
        : fingerprint;
  }
  return http;
}
