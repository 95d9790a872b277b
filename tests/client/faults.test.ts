import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { idempotencyOf, idempotentFetch, type RetryInfo } from "@idemkit/client";
import { createIdempotency, createMemoryStore } from "@idemkit/core";
import { createRequestListener } from "@idemkit/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { faultProxy } from "./fault-proxy.js";

// A real orders server (core handler behind the node:http bridge), reached only through the proxy.
const orders: { id: string; item: string }[] = [];
let workMs = 0;
const idem = createIdempotency({ store: createMemoryStore(), scope: "global" });
const server = createServer(
  createRequestListener(
    idem.wrap(async (request) => {
      const { item } = await request.json();
      await new Promise((resolve) => setTimeout(resolve, workMs));
      const order = { id: `ord_${randomUUID()}`, item };
      orders.push(order);
      return Response.json(order, { status: 201 });
    }),
  ),
);
let proxy: Awaited<ReturnType<typeof faultProxy>>;

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  proxy = await faultProxy({ host: "127.0.0.1", port: (server.address() as AddressInfo).port });
});
afterAll(async () => {
  await proxy.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** One logical "create an order" operation, retried by the client as it sees fit. */
async function createOrder(item: string, options: { attemptTimeoutMs?: number; retries?: number } = {}) {
  const retries: RetryInfo[] = [];
  const before = orders.length;
  const response = await idempotentFetch(
    `${proxy.origin}/orders`,
    {
      method: "POST",
      headers: { "content-type": "application/json", connection: "close" },
      body: JSON.stringify({ item }),
    },
    {
      minDelayMs: 10,
      maxDelayMs: 50,
      maxRetryAfterMs: 50,
      retries: 10,
      ...options,
      onRetry: (r) => retries.push(r),
    },
  );
  const created = orders.slice(before).filter((o) => o.item === item);
  return { response, body: await response.json(), created, retries, info: idempotencyOf(response)! };
}

describe("idempotentFetch against a real server, through injected faults", () => {
  it("the answer is lost after the server did the work: the retry gets the stored result", async () => {
    proxy.inject("drop-response");
    const { response, body, created, retries, info } = await createOrder("lost-answer");
    expect(response.status).toBe(201);
    expect(created).toHaveLength(1); // ran exactly once…
    expect(body).toEqual(created[0]); // …and the client got that run's result
    expect(info).toMatchObject({ replayed: true, attempts: 2 });
    expect(retries[0]!.error).toBeDefined();
  });

  it("connections reset before reaching the server: retried until one gets through, run once", async () => {
    proxy.inject("reset", "reset", "reset");
    const { response, body, created, info } = await createOrder("resets");
    expect(response.status).toBe(201);
    expect(created).toHaveLength(1);
    expect(body).toEqual(created[0]);
    expect(info).toMatchObject({ replayed: false, attempts: 4 });
  });

  it("a delayed answer past the attempt timeout: the retry replays the stored outcome", async () => {
    proxy.inject({ delayMs: 400 });
    const { body, created, info } = await createOrder("delayed", { attemptTimeoutMs: 150 });
    expect(created).toHaveLength(1);
    expect(body).toEqual(created[0]);
    expect(info).toMatchObject({ replayed: true, attempts: 2 });
  });

  it("a slow server: retries meet 409 while the first runs, then the replay; never a second run", async () => {
    // The first attempt gives up well before the work ends, and each retry has as long for its 409: a
    // loaded machine (CI) can take over 100 ms to answer one. Retries enough to outlast the work.
    workMs = 600;
    try {
      const { body, created, retries, info } = await createOrder("slow", {
        attemptTimeoutMs: 250,
        retries: 60,
      });
      expect(created).toHaveLength(1);
      expect(body).toEqual(created[0]);
      expect(retries.some((r) => r.status === 409)).toBe(true);
      expect(info.replayed).toBe(true);
    } finally {
      workMs = 0;
    }
  });

  it("everything at once, for several operations in parallel: each ran exactly once", async () => {
    proxy.inject("drop-response", "reset", { delayMs: 300 }, "drop-response", "reset");
    const items = Array.from({ length: 6 }, (_, i) => `parallel-${i}`);
    const results = await Promise.all(items.map((item) => createOrder(item, { attemptTimeoutMs: 150 })));
    for (const [i, result] of results.entries()) {
      expect(orders.filter((o) => o.item === items[i])).toHaveLength(1);
      expect(result.body.item).toBe(items[i]);
      expect(orders.find((o) => o.item === items[i])).toEqual(result.body);
    }
  });
});
