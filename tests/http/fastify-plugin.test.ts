import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { createIdempotency, createMemoryStore } from "@idemkit/core";
import { idempotency } from "@idemkit/fastify";
import Fastify, { type FastifyInstance } from "fastify";
import { describe, expect, it } from "vitest";
import { loopback } from "./loopback.js";

const servers = loopback();

async function start(build: (app: FastifyInstance) => void | Promise<void>) {
  const app = Fastify();
  await build(app);
  await app.listen({ port: 0, host: "127.0.0.1" });
  servers.track(app);
  const origin = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  return (path: string, key: string | null, body: unknown = { n: 1 }, headers: Record<string, string> = {}) =>
    fetch(`${origin}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(key && { "idempotency-key": key }), ...headers },
      body: JSON.stringify(body),
    });
}

describe("Fastify plugin", () => {
  it("parses the body once, serializes the reply once, stores it before sending", async () => {
    let parses = 0;
    let runs = 0;
    const post = await start(async (app) => {
      app.removeContentTypeParser("application/json");
      app.addContentTypeParser("application/json", { parseAs: "string" }, (_req, body, done) => {
        parses++;
        done(null, JSON.parse(body as string));
      });
      await app.register(idempotency, { store: createMemoryStore(), scope: "global" });
      app.post("/orders", async (request, reply) => {
        runs++;
        return reply.code(201).send({ id: runs, fence: request.idempotency?.fence, body: request.body });
      });
    });
    const key = randomUUID();
    const first = await post("/orders", key, { b: 2, a: 1 });
    const retry = await post("/orders", key, { a: 1, b: 2 });
    expect(first.status).toBe(201);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(await retry.json()).toEqual({ id: 1, fence: 1, body: { b: 2, a: 1 } });
    expect(runs).toBe(1);
    expect(parses).toBe(2); // once per request, by Fastify; idemkit reused the parsed body
  });

  it("per-route options through route config, and `idempotency: false` to leave a route out", async () => {
    let runs = 0;
    const post = await start(async (app) => {
      await app.register(idempotency, { store: createMemoryStore(), scope: "global" });
      const handler = async () => ({ run: ++runs });
      app.post("/optional", { config: { idempotency: { required: false } } }, handler);
      app.post(
        "/tenant",
        { config: { idempotency: { scope: (r) => String(r.headers["x-tenant"]) } } },
        handler,
      );
      app.post("/free", { config: { idempotency: false } }, handler);
    });
    expect((await post("/optional", null)).status).toBe(200);
    const key = randomUUID();
    expect(await (await post("/tenant", key, {}, { "x-tenant": "a" })).json()).toEqual({ run: 2 });
    expect(await (await post("/tenant", key, {}, { "x-tenant": "b" })).json()).toEqual({ run: 3 });
    const free = await post("/free", key);
    expect(await free.json()).toEqual({ run: 4 });
    expect((await post("/free", key)).headers.get("idempotent-replayed")).toBeNull();
    expect(runs).toBe(5);
  });

  it("follows encapsulation: registered in one context, it leaves sibling contexts alone", async () => {
    const idem = createIdempotency({ store: createMemoryStore() });
    let runs = 0;
    const post = await start(async (app) => {
      await app.register(async (api) => {
        await api.register(idempotency, { idempotency: idem, scope: "global" });
        api.post("/api/orders", async () => ({ run: ++runs }));
      });
      app.post("/webhooks", async () => ({ run: ++runs }));
    });
    expect((await post("/api/orders", null)).status).toBe(400);
    expect((await post("/webhooks", null)).status).toBe(200);
    const key = randomUUID();
    await post("/api/orders", key);
    expect((await post("/api/orders", key)).headers.get("idempotent-replayed")).toBe("true");
    expect(runs).toBe(2);
  });

  it("a thrown route error is a 500 and releases the key", async () => {
    let runs = 0;
    const post = await start(async (app) => {
      await app.register(idempotency, { store: createMemoryStore(), scope: "global" });
      app.post("/flaky", async () => {
        if (++runs === 1) throw new Error("downstream failed");
        return { ok: true };
      });
    });
    const key = randomUUID();
    expect((await post("/flaky", key)).status).toBe(500);
    expect((await post("/flaky", key)).status).toBe(200);
    expect(runs).toBe(2);
  });

  it("a hijacked reply holds its key once it ends: the retry gets 410, the route runs once", async () => {
    let runs = 0;
    const post = await start(async (app) => {
      await app.register(idempotency, { store: createMemoryStore(), scope: "global" });
      app.post("/raw", (_request, reply) => {
        runs++;
        reply.hijack(); // the route writes node's response itself: no onSend
        reply.raw.writeHead(201, { "content-type": "text/plain" });
        reply.raw.end("written by hand");
      });
    });
    const key = randomUUID();
    const first = await post("/raw", key);
    expect(first.status).toBe(201);
    expect(await first.text()).toBe("written by hand");
    // The hold is written when the response closes, just after the client has it.
    await expect.poll(async () => (await post("/raw", key)).status).toBe(410);
    const retry = await post("/raw", key);
    expect(retry.status).toBe(410);
    expect(await retry.json()).toMatchObject({ originalStatus: 201 });
    expect(runs).toBe(1);
  });

  it("a request that passes through (no key, not required) leaves the next one on its connection alone", async () => {
    let runs = 0;
    const post = await start(async (app) => {
      await app.register(idempotency, { store: createMemoryStore(), scope: "global", required: false });
      app.post("/orders", async () => ({ run: ++runs }));
    });
    expect(await (await post("/orders", null)).json()).toEqual({ run: 1 });
    const key = randomUUID();
    expect(await (await post("/orders", key)).json()).toEqual({ run: 2 });
    const retry = await post("/orders", key);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(await retry.json()).toEqual({ run: 2 });
    expect(runs).toBe(2);
  });

  it("its ESM and CommonJS builds both registered (root and child): the first handles, the route runs once", async () => {
    const commonJs = createRequire(import.meta.url)("@idemkit/fastify") as typeof import("@idemkit/fastify");
    expect(commonJs.idempotency).not.toBe(idempotency); // two copies of the module
    const idem = createIdempotency({ store: createMemoryStore() });
    let runs = 0;
    const post = await start(async (app) => {
      await app.register(idempotency, { idempotency: idem, scope: "global" });
      await app.register(async (child) => {
        await child.register(commonJs.idempotency, { idempotency: idem, scope: "global" });
        child.post("/orders", async (_request, reply) => reply.code(201).send({ run: ++runs }));
      });
    });
    const key = randomUUID();
    const first = await post("/orders", key);
    expect([first.status, await first.json()]).toEqual([201, { run: 1 }]);
    const retry = await post("/orders", key);
    expect([retry.status, retry.headers.get("idempotent-replayed"), await retry.json()]).toEqual([
      201,
      "true",
      { run: 1 },
    ]);
    expect(runs).toBe(1);
  });

  it("protects routes of a context registered before the plugin (their requests lack its decorator)", async () => {
    let runs = 0;
    const post = await start(async (app) => {
      await app.register(async (routes) => {
        routes.post("/charge", async () => ({ run: ++runs }));
      });
      await app.register(idempotency, { store: createMemoryStore(), scope: "global" });
    });
    expect((await post("/charge", null)).status).toBe(400);
    const key = randomUUID();
    expect(await (await post("/charge", key)).json()).toEqual({ run: 1 });
    const retry = await post("/charge", key);
    expect([retry.headers.get("idempotent-replayed"), await retry.json()]).toEqual(["true", { run: 1 }]);
    expect(runs).toBe(1);
  });
});
