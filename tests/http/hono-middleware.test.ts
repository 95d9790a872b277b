import { randomUUID } from "node:crypto";
import type { Server } from "node:http";
import { createAdaptorServer } from "@hono/node-server";
import { createIdempotency, createMemoryStore, type IdempotencyEvent } from "@idemkit/core";
import { type IdempotencyEnv, idempotency } from "@idemkit/hono";
import * as current from "hono";
import * as currentExceptions from "hono/http-exception";
import * as currentValidator from "hono/validator";
import * as oldest from "hono-4-8";
import * as oldestExceptions from "hono-4-8/http-exception";
import * as oldestValidator from "hono-4-8/validator";
import { describe, expect, it } from "vitest";
import { loopback } from "./loopback.js";

// What is Hono's own: the context (variables, c.req), per-route mounting, validators that read the
// body first, headers earlier middleware set, errors Hono's onError answers. Real app, real sockets; on
// the workspace's Hono and on 4.8, the oldest the peer range allows (the middleware imports only types
// from hono: the app's Hono is the one it runs with).
const servers = loopback();

const versions = [
  ["Hono 4.13", current, currentExceptions, currentValidator],
  ["Hono 4.8", oldest, oldestExceptions, oldestValidator],
] as const;

async function serve(app: { fetch: (request: Request) => Response | Promise<Response> }) {
  const origin = await servers.listen(createAdaptorServer({ fetch: app.fetch }) as Server);
  return (path: string, init: RequestInit & { key?: string } = {}) => {
    const headers = new Headers(init.headers);
    if (init.key !== undefined) headers.set("idempotency-key", init.key);
    return fetch(`${origin}${path}`, { method: "POST", ...init, headers });
  };
}

const json = (body: unknown) => ({
  body: JSON.stringify(body),
  headers: { "content-type": "application/json" },
});

function instance() {
  const events: IdempotencyEvent[] = [];
  const idem = createIdempotency({ store: createMemoryStore(), onEvent: (e) => events.push(e) });
  return { idem, events };
}

for (const [version, { Hono }, { HTTPException }, { validator }] of versions) {
  describe(`@idemkit/hono on ${version}`, () => {
    it("scope reads the Hono context (a variable an auth middleware set); the route reads c.get('idempotency')", async () => {
      type Env = { Variables: { accountId: string } & IdempotencyEnv["Variables"] };
      const app = new Hono<Env>();
      app.use(async (c, next) => {
        c.set("accountId", c.req.header("x-account") ?? "");
        await next();
      });
      app.use(idempotency<Env>(instance().idem, { scope: (c) => c.get("accountId") || undefined }));
      let runs = 0;
      app.post("/orders", (c) => {
        const { key, fence } = c.get("idempotency");
        return c.json({ run: ++runs, key, fence }, 201);
      });
      const send = await serve(app);
      const as = (account: string) => send("/orders", { key: "k1", headers: { "x-account": account } });
      expect(await (await as("a")).json()).toEqual({ run: 1, key: "k1", fence: 1 });
      const replay = await as("a");
      expect(replay.headers.get("idempotent-replayed")).toBe("true");
      expect(await replay.json()).toEqual({ run: 1, key: "k1", fence: 1 });
      expect(await (await as("b")).json()).toMatchObject({ run: 2 });
      expect((await as("")).status).toBe(400); // no account: scope-missing, not run
      expect(runs).toBe(2);
    });

    it("per route, and mounted both app-wide and on the route: the first one handles the request", async () => {
      const { idem, events } = instance();
      const app = new Hono();
      app.use("/orders/*", idempotency(idem, { scope: "global" }));
      let runs = 0;
      app.post("/orders/new", idempotency(idem, { scope: "global" }), (c) => c.text(`run ${++runs}`, 201));
      app.post("/refunds", idempotency(idem, { scope: "global", maxResponseBytes: 4 }), (c) =>
        c.text(`refund ${++runs}`, 201),
      );
      const send = await serve(app);
      expect(await (await send("/orders/new", { key: "o" })).text()).toBe("run 1");
      expect(await (await send("/orders/new", { key: "o" })).text()).toBe("run 1");
      expect(events.filter((e) => e.type === "claimed")).toHaveLength(1);
      // The route's own options apply: its body is over its cap, so a retry gets 410.
      expect(await (await send("/refunds", { key: "r" })).text()).toBe("refund 2");
      expect((await send("/refunds", { key: "r" })).status).toBe(410);
      expect(runs).toBe(2);
    });

    it("the route reads the body through c.req (json, text) after idemkit read it", async () => {
      const app = new Hono<IdempotencyEnv>();
      app.use(idempotency({ store: createMemoryStore(), scope: "global" }));
      app.post("/json", async (c) => c.json(await c.req.json(), 201));
      app.post("/text", async (c) => c.text((await c.req.text()).toUpperCase(), 201));
      const send = await serve(app);
      expect(await (await send("/json", { key: randomUUID(), ...json({ a: 1 }) })).json()).toEqual({ a: 1 });
      expect(await (await send("/text", { key: randomUUID(), body: "plain" })).text()).toBe("PLAIN");
    });

    it("after a validator that read the body: fingerprinted from what Hono cached (JSON canonically)", async () => {
      const app = new Hono();
      let runs = 0;
      app.post(
        "/orders",
        validator("json", (value) => value as Record<string, unknown>),
        idempotency({ store: createMemoryStore(), scope: "global" }),
        (c) => c.json({ run: ++runs, order: c.req.valid("json") }, 201),
      );
      app.post(
        "/forms",
        validator("form", (value) => value),
        idempotency({ store: createMemoryStore(), scope: "global" }),
        (c) => c.json({ run: ++runs, form: c.req.valid("form") }, 201),
      );
      const send = await serve(app);
      const first = await send("/orders", { key: "v", ...json({ item: "book", qty: 1 }) });
      expect(await first.json()).toEqual({ run: 1, order: { item: "book", qty: 1 } });
      const reordered = await send("/orders", { key: "v", ...json({ qty: 1, item: "book" }) });
      expect(reordered.headers.get("idempotent-replayed")).toBe("true");
      expect((await send("/orders", { key: "v", ...json({ item: "pen", qty: 1 }) })).status).toBe(422);
      const form = () => send("/forms", { key: "f", body: new URLSearchParams({ item: "book" }) });
      expect(await (await form()).json()).toEqual({ run: 2, form: { item: "book" } });
      expect((await form()).headers.get("idempotent-replayed")).toBe("true");
      expect(runs).toBe(2);
    });

    it("a body read before it as form data only is refused with a 500 naming the fix; the route does not run", async () => {
      const app = new Hono();
      const errors: unknown[] = [];
      let runs = 0;
      app.use(async (c, next) => {
        await c.req.formData();
        await next();
      });
      app.use(idempotency({ store: createMemoryStore(), scope: "global" }));
      app.post("/orders", (c) => c.text(`run ${++runs}`, 201));
      app.onError((error, c) => {
        errors.push(error);
        return c.text("crashed", 500);
      });
      const send = await serve(app);
      expect((await send("/orders", { key: "x", body: new URLSearchParams({ a: "1" }) })).status).toBe(500);
      expect(String(errors[0])).toMatch(/mount idempotency\(\) before validators/);
      expect(runs).toBe(0);
    });

    it("headers set by earlier middleware belong to their request: not stored, a replay carries its own", async () => {
      const app = new Hono();
      let requests = 0;
      app.use(async (c, next) => {
        c.header("x-request-id", String(++requests));
        c.res.headers.set("access-control-allow-origin", c.req.header("origin") ?? "*");
        await next();
      });
      app.use(idempotency({ store: createMemoryStore(), scope: "global" }));
      app.post("/orders", (c) => c.json({ ok: true }, 201, { "x-order": "1" }));
      const send = await serve(app);
      const first = await send("/orders", { key: "h", headers: { origin: "https://a.test" } });
      expect(first.headers.get("x-request-id")).toBe("1");
      expect(first.headers.get("access-control-allow-origin")).toBe("https://a.test");
      expect(first.headers.get("x-order")).toBe("1");
      const replay = await send("/orders", { key: "h", headers: { origin: "https://b.test" } });
      expect(replay.headers.get("idempotent-replayed")).toBe("true");
      expect(replay.headers.get("x-request-id")).toBe("2");
      expect(replay.headers.get("access-control-allow-origin")).toBe("https://b.test");
      expect(replay.headers.get("x-order")).toBe("1");
      expect(replay.headers.get("content-length")).toBe(first.headers.get("content-length"));
    });

    it("a thrown HTTPException is answered by Hono and releases the key: a retry runs again", async () => {
      const app = new Hono();
      let runs = 0;
      app.use(idempotency({ store: createMemoryStore(), scope: "global" }));
      app.post("/orders", (c) => {
        if (++runs === 1) throw new HTTPException(403, { message: "not yet" });
        return c.text("made", 201);
      });
      const send = await serve(app);
      const refused = await send("/orders", { key: "e" });
      expect(refused.status).toBe(403);
      expect(await refused.text()).toBe("not yet");
      expect((await send("/orders", { key: "e" })).status).toBe(201);
      expect(runs).toBe(2);
    });

    it("uncovered methods pass through untouched, the context telling no key", async () => {
      const app = new Hono<IdempotencyEnv>();
      app.use(idempotency({ store: createMemoryStore(), scope: "global" }));
      app.get("/orders", (c) => c.json({ key: c.get("idempotency").key ?? null }, 200, { "x-live": "yes" }));
      const send = await serve(app);
      const got = await send("/orders", { method: "GET", key: "g" });
      expect(await got.json()).toEqual({ key: null });
      expect(got.headers.get("x-live")).toBe("yes");
    });

    it("fails when created without a scope, not on the first request", () => {
      expect(() => idempotency({ store: createMemoryStore() })).toThrow(/choose a scope/);
    });
  });
}
