import { randomUUID } from "node:crypto";
import { runStoreConformance, skipUnlessAvailable } from "@idemkit/conformance";
import type { IdempotencyStore } from "@idemkit/core";
import { Cluster, Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedisStore, type RedisStore } from "./index.js";

// Start the cluster with `scripts/redis-cluster.sh start` (repo root).
const nodes = (process.env.REDIS_CLUSTER_NODES ?? "127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002")
  .split(",")
  .map((node) => {
    const [host = "127.0.0.1", port = "7000"] = node.trim().split(":");
    return { host, port: Number(port) };
  });

async function probe(): Promise<string | undefined> {
  for (const { host, port } of nodes) {
    const client = new Redis({
      host,
      port,
      lazyConnect: true,
      connectTimeout: 1000,
      retryStrategy: () => null,
    });
    let lastError: Error | undefined;
    client.on("error", (error) => {
      lastError = error;
    });
    try {
      await client.connect();
      const info = await client.cluster("INFO");
      if (!/^cluster_state:ok/m.test(info))
        return `the Redis Cluster node ${host}:${port} is not in state ok`;
    } catch (error) {
      return `no Redis Cluster node at ${host}:${port} (${(lastError ?? (error as Error)).message}); run scripts/redis-cluster.sh start or set REDIS_CLUSTER_NODES`;
    } finally {
      client.disconnect();
    }
  }
  return undefined;
}

const skip = skipUnlessAvailable("redis-cluster", await probe());
const clients = new WeakMap<IdempotencyStore, Cluster>();
const prefix = "idemkit-test:";

runStoreConformance({
  name: "redis-cluster",
  skip,
  createStore: () => {
    const client = new Cluster(nodes);
    const store = createRedisStore({ client, prefix });
    clients.set(store, client);
    return store;
  },
  teardown: async (store) => {
    await clients.get(store)?.quit();
  },
});

describe.skipIf(Boolean(skip))("redis store on a Cluster", () => {
  let client: Cluster;
  let store: RedisStore;
  const utf8 = (text: string) => new TextEncoder().encode(text);

  beforeAll(() => {
    client = new Cluster(nodes);
    store = createRedisStore({ client, prefix });
  });
  afterAll(async () => {
    await client.quit();
  });

  it("checkServer() reads maxmemory-policy on every master: noeviction on this cluster", async () => {
    const found = await store.checkServer();
    const masters = client.nodes("master").map((node) => `${node.options.host}:${node.options.port}`);
    expect(found.map((f) => f.node).sort()).toEqual(masters.sort());
    expect(found.length).toBeGreaterThanOrEqual(3);
    expect(found.every((f) => f.maxmemoryPolicy === "noeviction")).toBe(true);
  });

  it("spreads keys over every master and survives SCRIPT FLUSH on all of them", async () => {
    const keys = Array.from({ length: 60 }, (_, i) => `cluster:${randomUUID()}:${i}`);
    const flushAll = () => Promise.all(client.nodes("master").map((node) => node.script("FLUSH")));
    await flushAll();
    const tokens = keys.map(() => randomUUID());
    const claims = await Promise.all(
      keys.map((k, i) =>
        store.claim(k, { token: tokens[i]!, fingerprint: "fp", leaseMs: 60_000, retentionMs: 60_000 }),
      ),
    );
    expect(claims.every((c) => c.acquired)).toBe(true);
    await flushAll();
    const done = await Promise.all(
      keys.map((k, i) => store.complete(k, tokens[i]!, { result: utf8(k), retentionMs: 60_000 })),
    );
    expect(done.every(Boolean)).toBe(true);
    await flushAll();
    const reads = await Promise.all(keys.map((k) => store.get(k)));
    expect(reads.map((r) => r?.state === "completed" && new TextDecoder().decode(r.result))).toEqual(keys);

    const perMaster = await Promise.all(
      client.nodes("master").map(async (node) => {
        let found = 0;
        for (const k of keys) found += await node.exists(prefix + k).catch(() => 0);
        return found;
      }),
    );
    expect(perMaster.length).toBeGreaterThanOrEqual(3);
    expect(perMaster.every((n) => n > 0)).toBe(true);
  });
});
