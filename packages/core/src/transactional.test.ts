import { describe, expect, it } from "vitest";
import { createIdempotency } from "./idempotency.js";
import { createMemoryStore } from "./memory-store.js";
import type { CompletedRecord } from "./store.js";
import type { TransactionalStore } from "./transactional.js";

/**
 * An in-memory stand-in for a SQL store's transactional mode: a per-key lock plays the unique
 * index a duplicate waits on, and a "business table" is rolled back with the key. It tests how the
 * HTTP layer drives transactional mode; it proves nothing about a database's atomicity (the
 * Postgres and SQLite suites do that against real databases).
 */
function fakeTransactionalStore() {
  const committed = new Map<string, CompletedRecord>();
  const locks = new Map<string, Promise<void>>();
  const orders: string[] = [];
  const store: TransactionalStore<{ insert(order: string): void }> = {
    async transaction(key, claim, work) {
      while (locks.has(key)) await locks.get(key);
      const existing = committed.get(key);
      if (existing) return { acquired: false, record: existing };
      let unlock!: () => void;
      locks.set(key, new Promise<void>((resolve) => (unlock = resolve)));
      const pending: string[] = [];
      try {
        const output = await work({ client: { insert: (o) => pending.push(o) }, fence: 1 });
        if (output.commit) {
          orders.push(...pending);
          committed.set(key, {
            state: "completed",
            token: "tx",
            fingerprint: claim.fingerprint,
            fence: 1,
            result: output.result,
            expiresAt: Date.now() + claim.retentionMs,
          });
        }
        return { acquired: true, fence: 1, value: output.value, committed: output.commit };
      } finally {
        locks.delete(key);
        unlock();
      }
    },
  };
  return { store, orders };
}

const post = (key: string | null, body: unknown) =>
  new Request("http://x/orders", {
    method: "POST",
    headers: { "content-type": "application/json", ...(key ? { "idempotency-key": key } : {}) },
    body: JSON.stringify(body),
  });

describe("transactional mode through the HTTP layer", () => {
  it("commits the business write with the response; duplicates wait and replay", async () => {
    const { store, orders } = fakeTransactionalStore();
    const idem = createIdempotency({ store: createMemoryStore(), scope: "global" });
    let runs = 0;
    const route = idem.transactional(store).wrap(async (request, { client, fence }) => {
      runs++;
      await new Promise((resolve) => setTimeout(resolve, 30));
      const body = await request.json();
      client.insert(body.item);
      return Response.json({ item: body.item, fence }, { status: 201, headers: { "set-cookie": "s=1" } });
    });
    const responses = await Promise.all(Array.from({ length: 5 }, () => route(post("k1", { item: "book" }))));
    expect(runs).toBe(1);
    expect(orders).toEqual(["book"]);
    expect(responses.map((r) => r.status)).toEqual([201, 201, 201, 201, 201]);
    expect(responses.filter((r) => r.headers.get("idempotent-replayed") === "true")).toHaveLength(4);
    for (const r of responses) expect(await r.json()).toEqual({ item: "book", fence: 1 });
    expect(responses[0]!.headers.get("set-cookie")).toBe("s=1");
    expect(responses[1]!.headers.get("set-cookie")).toBeNull();
    const mismatch = await route(post("k1", { item: "lamp" }));
    expect(mismatch.status).toBe(422);
  });

  it("rolls back everything on a 5xx or a throw, so a retry runs again", async () => {
    const { store, orders } = fakeTransactionalStore();
    const idem = createIdempotency({ store: createMemoryStore(), scope: "global" });
    let runs = 0;
    const route = idem.transactional(store).wrap(async (_request, { client }) => {
      runs++;
      client.insert(`attempt-${runs}`);
      if (runs === 1) return new Response("downstream failed", { status: 502 });
      if (runs === 2) throw new Error("crash");
      return new Response("ok", { status: 201 });
    });
    expect((await route(post("k", {}))).status).toBe(502);
    await expect(route(post("k", {}))).rejects.toThrow("crash");
    expect((await route(post("k", {}))).status).toBe(201);
    expect(orders).toEqual(["attempt-3"]);
  });

  it("keeps the pre-claim answers: 400 without a key, 400 for a bad key", async () => {
    const { store } = fakeTransactionalStore();
    const idem = createIdempotency({ store: createMemoryStore(), scope: "global" });
    const route = idem.transactional(store).wrap(async () => new Response("ok", { status: 201 }));
    expect((await route(post(null, {}))).status).toBe(400);
    expect((await route(post('"unterminated', {}))).status).toBe(400);
  });

  it("answers 503 when the transaction itself fails (nothing committed)", async () => {
    const idem = createIdempotency({ store: createMemoryStore(), scope: "global" });
    const broken: TransactionalStore<unknown> = {
      transaction: () => Promise.reject(new Error("connection terminated")),
    };
    const response = await idem.transactional(broken).handle(post("k", {}), async () => new Response("x"));
    expect(response.status).toBe(503);
  });

  it("bounds the wait for the transaction by storeTimeoutMs (503), and never runs the work after it", async () => {
    const idem = createIdempotency({ store: createMemoryStore(), scope: "global", storeTimeoutMs: 100 });
    let runs = 0;
    let startWork!: () => Promise<unknown>;
    const stuck: TransactionalStore<unknown> = {
      transaction: (_key, _claim, work) => {
        startWork = () => work({ client: undefined, fence: 1 });
        return new Promise(() => {}); // a pool that never hands out a connection
      },
    };
    const response = await idem.transactional(stuck).handle(post("k", {}), async () => {
      runs++;
      return new Response("late", { status: 201 });
    });
    expect(response.status).toBe(503);
    await expect(startWork()).rejects.toThrow(/already answered/);
    expect(runs).toBe(0);
  });

  it("delivers a response over the cap in full, commits a not-replayable marker, and replays 410", async () => {
    const { store } = fakeTransactionalStore();
    const idem = createIdempotency({ store: createMemoryStore(), scope: "global", maxResponseBytes: 1024 });
    const big = new Uint8Array(8 * 1024).fill(3);
    let runs = 0;
    const route = idem.transactional(store).wrap(async () => {
      runs++;
      return new Response(big, { status: 201 });
    });
    const first = await route(post("big", {}));
    expect(new Uint8Array(await first.arrayBuffer())).toEqual(big);
    const again = await route(post("big", {}));
    expect(again.status).toBe(410);
    expect(runs).toBe(1);
  });
});
