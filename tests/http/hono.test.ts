import type { Server } from "node:http";
import { createAdaptorServer } from "@hono/node-server";
import { createMemoryStore } from "@idemkit/core";
import { type IdempotencyEnv, idempotency } from "@idemkit/hono";
import { Hono } from "hono";
import { describeHttpBehaviour } from "./behaviour-suite.js";
import { loopback, sendTo } from "./loopback.js";

const servers = loopback();

// A real Hono app served by @hono/node-server on loopback: the suite's Web handler is the route,
// reading the request Hono holds and the context the middleware set.
describeHttpBehaviour({
  name: "Hono middleware (@hono/node-server) on the memory store",
  createStore: () => createMemoryStore(),
  mount: async (options, handler) => {
    const app = new Hono<IdempotencyEnv>();
    // The suite's scope reads a Web Request; the middleware's reads the Hono context.
    const { scope, fingerprint: _unused, ...rest } = options;
    app.use(idempotency({ ...rest, scope: typeof scope === "function" ? (c) => scope(c.req.raw) : scope }));
    app.all("*", (c) => handler(c.req.raw, c.get("idempotency")));
    app.onError((_error, c) => c.json({ error: "handler crashed" }, 500));
    return sendTo(await servers.listen(createAdaptorServer({ fetch: app.fetch }) as Server));
  },
});
