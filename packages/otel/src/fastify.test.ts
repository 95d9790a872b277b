import { randomUUID } from "node:crypto";
import { createIdempotency, createMemoryStore } from "@idemkit/core";
import { idempotency } from "@idemkit/fastify";
import Fastify from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { instrument } from "./instrument.js";
import { type Telemetry, telemetry } from "./testing/telemetry.js";

let otel: Telemetry;
let close: (() => Promise<unknown>) | undefined;
afterEach(async () => {
  await close?.();
  await otel?.shutdown();
});

describe("spans over Fastify on loopback", () => {
  it("every answer carries the route's template, prefix included: executed, replayed, rejected", async () => {
    otel = telemetry();
    const idem = createIdempotency({ store: createMemoryStore() });
    instrument(idem, { tracer: otel.tracer, meter: otel.meter });
    const app = Fastify();
    await app.register(
      async (api) => {
        await api.register(idempotency, { idempotency: idem, scope: "global" });
        api.post("/orders/:id", async (request, reply) =>
          reply.code(201).send({ id: (request.params as { id: string }).id }),
        );
      },
      { prefix: "/api" },
    );
    const origin = await app.listen({ port: 0, host: "127.0.0.1" });
    close = () => app.close();
    const post = (key: string | null) =>
      fetch(`${origin}/api/orders/7`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(key === null ? {} : { "idempotency-key": key }) },
        body: "{}",
      });
    const key = `"${randomUUID()}"`;
    expect((await post(key)).status).toBe(201);
    expect((await post(key)).status).toBe(201);
    expect((await post(null)).status).toBe(400);
    expect(
      otel.callSpans().map((s) => [s.name, s.attributes["idemkit.outcome"], s.attributes["http.route"]]),
    ).toEqual([
      ["idemkit POST /api/orders/:id", "executed", "/api/orders/:id"],
      ["idemkit POST /api/orders/:id", "replayed", "/api/orders/:id"],
      ["idemkit POST /api/orders/:id", "rejected", "/api/orders/:id"],
    ]);
    expect(otel.callSpans()[0]?.attributes).toMatchObject({
      "url.path": "/api/orders/7",
      "http.response.status_code": 201,
    });
  });
});
