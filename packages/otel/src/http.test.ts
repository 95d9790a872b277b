import { randomUUID } from "node:crypto";
import { context, SpanStatusCode } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { downStore, ordersApp } from "./testing/orders-app.js";
import { type Telemetry, telemetry } from "./testing/telemetry.js";

let otel: Telemetry;
let apps: { close(): Promise<void> }[] = [];
const newKey = () => `"${randomUUID()}"`;

/** An instrumented Express app on loopback, closed after the test. */
async function app(options: Parameters<typeof ordersApp>[0] = {}) {
  const started = await ordersApp({ tracer: otel.tracer, meter: otel.meter, ...options });
  apps.push(started);
  return started;
}

beforeAll(() => {
  // What an app's SDK setup does: the active span follows async work.
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
});
afterAll(() => context.disable());
afterEach(async () => {
  await Promise.all(apps.map((a) => a.close()));
  apps = [];
  await otel?.shutdown();
});

describe("spans and metrics over Express on loopback", () => {
  it("executed, then replayed: a span each with the HTTP attributes, the route's template, the outcome", async () => {
    otel = telemetry();
    const { post } = await app();
    const key = newKey();
    expect((await post("/orders/42?coupon=secret", key)).status).toBe(201);
    expect((await post("/orders/42?coupon=secret", key)).status).toBe(201);
    const [executed, replayed] = otel.callSpans();
    expect(executed?.name).toBe("idemkit POST /orders/:id");
    expect(executed?.attributes).toEqual({
      "idemkit.outcome": "executed",
      "http.request.method": "POST",
      "http.route": "/orders/:id",
      "http.response.status_code": 201,
      "url.path": "/orders/42",
      "idemkit.fence": 1,
    });
    expect(replayed?.attributes).toMatchObject({
      "idemkit.outcome": "replayed",
      "http.response.status_code": 201,
    });
    expect(replayed?.attributes).not.toHaveProperty("idemkit.fence");
    for (const span of [executed, replayed]) expect(span?.status.code).toBe(SpanStatusCode.UNSET);
    expect(JSON.stringify(otel.spans().map((s) => s.attributes))).not.toContain(key.slice(1, -1)); // no key unless asked
    // Mounted app-wide, idemkit answers a replay before Express routes it: no template is known then.
    expect(replayed?.name).toBe("idemkit POST");
    expect(replayed?.attributes).not.toHaveProperty("http.route");
    expect(await otel.totals("idemkit.calls")).toEqual([
      {
        attributes: {
          "idemkit.outcome": "executed",
          "http.request.method": "POST",
          "http.route": "/orders/:id",
          "http.response.status_code": 201,
        },
        value: 1,
      },
      {
        attributes: {
          "idemkit.outcome": "replayed",
          "http.request.method": "POST",
          "http.response.status_code": 201,
        },
        value: 1,
      },
    ]);
  });

  it("mounted on the route, every answer carries the route's template, replays and rejections too", async () => {
    otel = telemetry();
    const { post } = await app({ perRoute: true });
    const key = newKey();
    await post("/orders/42", key);
    await post("/orders/42", key);
    await post("/orders/42", null);
    expect(otel.callSpans().map((s) => [s.name, s.attributes["idemkit.outcome"]])).toEqual([
      ["idemkit POST /orders/:id", "executed"],
      ["idemkit POST /orders/:id", "replayed"],
      ["idemkit POST /orders/:id", "rejected"],
    ]);
  });

  it("conflict: a concurrent duplicate gets its own span (409) while the first still runs", async () => {
    otel = telemetry();
    const { post, slowRunning, release } = await app();
    const key = newKey();
    const first = post("/slow", key);
    await slowRunning;
    expect((await post("/slow", key)).status).toBe(409);
    release();
    expect((await first).status).toBe(201);
    const outcomes = otel
      .callSpans()
      .map((s) => [s.attributes["idemkit.outcome"], s.attributes["http.response.status_code"]]);
    expect(outcomes).toEqual([
      ["conflict", 409],
      ["executed", 201],
    ]);
    const totals = await otel.totals("idemkit.calls");
    expect(totals.map((t) => [t.attributes["idemkit.outcome"], t.value])).toEqual([
      ["conflict", 1],
      ["executed", 1],
    ]);
  });

  it("mismatch (422) and rejected (400, with the reason, no key, no fence)", async () => {
    otel = telemetry();
    const { post } = await app();
    const key = newKey();
    await post("/orders/1", key, { item: "book" });
    expect((await post("/orders/1", key, { item: "pen" })).status).toBe(422);
    expect((await post("/orders/1", '"a", "b"')).status).toBe(400);
    const [, mismatch, rejected] = otel.callSpans();
    expect(mismatch?.attributes).toMatchObject({
      "idemkit.outcome": "mismatch",
      "http.response.status_code": 422,
    });
    expect(rejected?.attributes).toMatchObject({
      "idemkit.outcome": "rejected",
      "idemkit.reason": "key-invalid",
      "http.response.status_code": 400,
      "url.path": "/orders/1",
    });
    expect(rejected?.attributes).not.toHaveProperty("idemkit.fence");
  });

  it("unavailable: a store that rejects gives a 503 span in error, and store-call latencies with error.type", async () => {
    otel = telemetry();
    const { post } = await app({ store: downStore() });
    expect((await post("/orders/1", newKey())).status).toBe(503);
    const [span] = otel.callSpans();
    expect(span?.attributes).toMatchObject({
      "idemkit.outcome": "unavailable",
      "http.response.status_code": 503,
      "error.type": "StoreUnavailableError",
    });
    expect(span?.status.code).toBe(SpanStatusCode.ERROR);
    expect(span?.events.map((e) => e.name)).toEqual(["exception"]);
    const store = await otel.totals("idemkit.store.duration");
    // The claim is tried twice (the second with the same token) before idemkit answers 503.
    expect(store).toEqual([
      { attributes: { "idemkit.store.operation": "claim", "error.type": "Error" }, value: 2 },
    ]);
  });

  it("a route that throws: Express answers 500, the key is released, the span is in error (error.type 500)", async () => {
    otel = telemetry();
    const { post } = await app();
    const key = newKey();
    expect((await post("/boom", key)).status).toBe(500);
    expect((await post("/boom", key)).status).toBe(500); // released: the retry runs again
    const spans = otel.callSpans();
    expect(spans.map((s) => s.attributes["idemkit.fence"])).toEqual([1, 2]);
    expect(spans[0]?.attributes).toMatchObject({
      "idemkit.outcome": "executed",
      "http.response.status_code": 500,
      "error.type": "500",
    });
    expect(spans[0]?.status.code).toBe(SpanStatusCode.ERROR);
  });

  it("store calls that answer: a latency per operation, without error.type", async () => {
    otel = telemetry();
    const { post } = await app();
    const key = newKey();
    await post("/orders/1", key);
    await post("/orders/1", key);
    const store = await otel.totals("idemkit.store.duration");
    expect(store).toEqual([
      { attributes: { "idemkit.store.operation": "claim" }, value: 2 },
      { attributes: { "idemkit.store.operation": "complete" }, value: 1 },
    ]);
    const [claim] = await otel.points("idemkit.store.duration");
    expect(claim?.value).toMatchObject({
      count: 2,
      buckets: { boundaries: expect.arrayContaining([0.001, 0.01]) },
    });
  });

  it("a route under a router has no http.route (its template there is relative to the mount)", async () => {
    otel = telemetry();
    const { post } = await app();
    expect((await post("/api/items/7", newKey())).status).toBe(201);
    const [span] = otel.callSpans();
    expect(span?.name).toBe("idemkit POST");
    expect(span?.attributes).toMatchObject({ "url.path": "/api/items/7" });
    expect(span?.attributes).not.toHaveProperty("http.route");
  });

  it("the call's span is a child of the span active around the request (the server span)", async () => {
    otel = telemetry();
    const { post } = await app({ serverTracer: otel.tracer });
    await post("/orders/1", newKey());
    const server = otel.spans().find((s) => s.name === "server POST");
    const [call] = otel.callSpans();
    expect(call?.parentSpanContext?.spanId).toBe(server?.spanContext().spanId);
    expect(call?.spanContext().traceId).toBe(server?.spanContext().traceId);
  });

  it("puts the stored key on spans only with recordKeys, never on metrics", async () => {
    otel = telemetry();
    const { post } = await app({ recordKeys: true });
    await post("/orders/1", '"order-17"');
    expect(otel.callSpans()[0]?.attributes["idemkit.key"]).toBe("idem:http:0::order-17");
    const totals = await otel.totals("idemkit.calls");
    expect(JSON.stringify(totals)).not.toContain("order-17");
  });

  it("a tracer that throws never breaks a request", async () => {
    otel = telemetry();
    const broken = {
      startSpan: () => {
        throw new Error("exporter bug");
      },
      startActiveSpan: () => {
        throw new Error("exporter bug");
      },
    };
    const { post } = await app({ tracer: broken });
    const key = newKey();
    expect((await post("/orders/1", key)).status).toBe(201);
    expect((await post("/orders/1", key)).headers.get("idempotent-replayed")).toBe("true");
  });
});
