import { createServer } from "node:http";
import { Readable } from "node:stream";
import type { ReadableStream as NodeReadableStream } from "node:stream/web";
import { createMemoryStore, type IdempotentHandler } from "@idemkit/core";
import { type IdempotencyState, idempotency } from "@idemkit/koa";
import { bodyParser } from "@koa/bodyparser";
import type { Context } from "koa";
import { describeHttpBehaviour } from "./behaviour-suite.js";
import { KOA_MAJORS } from "./koa-app.js";
import { loopback, sendTo } from "./loopback.js";
import { nodeScope, webRequestOf } from "./web-route.js";

const servers = loopback();

/** A Koa route running the suite's Web handler: its response set as `ctx.status`, headers and `ctx.body` (a stream). */
function koaRoute(handler: IdempotentHandler) {
  return async (ctx: Context) => {
    const request = await webRequestOf(Object.assign(ctx.req, { body: ctx.request.body }));
    const state = ctx.state as IdempotencyState;
    const context = state.idempotency ?? {
      key: undefined,
      fence: undefined,
      signal: new AbortController().signal,
    };
    const response = await handler(request, context);
    ctx.status = response.status;
    response.headers.forEach((value, name) => {
      if (name !== "set-cookie") ctx.set(name, value);
    });
    const cookies = response.headers.getSetCookie();
    if (cookies.length > 0) ctx.set("set-cookie", cookies);
    ctx.body = response.body === null ? null : Readable.fromWeb(response.body as NodeReadableStream);
  };
}

// Koa 3 and Koa 2 run the same suite: JSON bodies parsed by @koa/bodyparser, the route's response as
// a stream in `ctx.body`, Koa's own error handling.
for (const [name, make] of KOA_MAJORS) {
  describeHttpBehaviour({
    name: `${name} middleware on the memory store`,
    createStore: () => createMemoryStore(),
    mount: async (options, handler) => {
      const app = new make();
      app.silent = true; // a route that throws is answered 500 by Koa; not logged here
      app.use(bodyParser());
      // The suite's scope reads a Web Request; the middleware's reads the Koa context.
      const { scope, fingerprint: _unused, ...rest } = options;
      const onRequest = nodeScope(scope);
      app.use(
        idempotency(rest, {
          scope: typeof onRequest === "function" ? (ctx) => onRequest(ctx.req) : onRequest,
        }),
      );
      app.use(koaRoute(handler));
      return sendTo(await servers.listen(createServer(app.callback())));
    },
  });
}
