// list and ping beyond the conformance suite: the client's keyPrefix and the store's prefix, values that
// are no record of ours, a Cluster's masters one after the other, a master that goes away mid-listing.
import { randomUUID } from "node:crypto";
import { skipUnlessAvailable } from "@idemkit/conformance";
import type { ListFilter, RecordSummary } from "@idemkit/core";
import { Cluster, Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedisStore, type RedisClient, type RedisStore } from "./index.js";
import {
  nodeRedis,
  nodeRedisCluster,
  CLUSTER_NODES as nodes,
  probeCluster,
  probeRedis,
  REDIS_URL as url,
} from "./testing/clients.js";

const skip = skipUnlessAvailable("redis", await probeRedis());
const skipCluster = skipUnlessAvailable("redis-cluster", await probeCluster());
const claimOf = () => ({ token: randomUUID(), fingerprint: "fp", leaseMs: 60_000, retentionMs: 60_000 });

/** Every record of a listing, page after page; the pages' sizes too. */
async function listAll(store: RedisStore, filter: ListFilter) {
  const records: RecordSummary[] = [];
  const sizes: number[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.list({ ...filter, cursor });
    records.push(...page.records);
    sizes.push(page.records.length);
    cursor = page.cursor;
  } while (cursor !== undefined);
  return { keys: records.map((r) => r.key).sort(), sizes };
}

describe.skipIf(Boolean(skip))("redis store: list and ping on one server", () => {
  let raw: Redis;
  beforeAll(() => {
    raw = new Redis(url);
  });
  afterAll(async () => {
    await raw.quit();
  });

  const clients: [
    string,
    (keyPrefix: string) => Promise<{ client: RedisClient; close(): Promise<unknown> }>,
  ][] = [
    [
      "ioredis",
      async (keyPrefix) => {
        const client = new Redis(url, { keyPrefix });
        return { client, close: () => client.quit() };
      },
    ],
    [
      "node-redis",
      async (keyPrefix) => {
        const client = await nodeRedis({ keyPrefix });
        return { client, close: () => client.close() };
      },
    ],
  ];

  for (const [name, open] of clients) {
    it(`${name}: lists keys as the store was given them, under the client's keyPrefix and the store's prefix only`, async () => {
      const run = randomUUID();
      const { client, close } = await open(`app-${run}:`);
      try {
        const store = createRedisStore({ client, prefix: "s:" });
        const other = createRedisStore({ client, prefix: "t:" });
        const keys = ["a", "b*", "c?[x]\\"].map((k) => `k:${k}`);
        for (const key of keys) await store.claim(key, claimOf());
        await other.claim("k:a", claimOf()); // the same key under another store prefix
        // Values that are no record of ours: left out of the listing (get names them).
        await raw.set(`app-${run}:s:k:garbage`, "garbage");
        await raw.hset(`app-${run}:s:k:hash`, "state", "completed");
        expect((await listAll(store, {})).keys).toEqual([...keys].sort());
        expect((await listAll(store, { prefix: "k:b*" })).keys).toEqual(["k:b*"]);
        expect((await listAll(other, {})).keys).toEqual(["k:a"]);
        await expect(store.ping()).resolves.toBeUndefined();
      } finally {
        const left = await raw.keys(`app-${run}:*`);
        if (left.length > 0) await raw.del(...left);
        await close();
      }
    });
  }

  it("ping rejects with a RedisStoreError within commandTimeoutMs when Redis does not answer", async () => {
    const client = new Redis({
      port: 1,
      lazyConnect: true,
      enableOfflineQueue: false,
      retryStrategy: () => null,
    });
    client.on("error", () => {});
    const store = createRedisStore({ client, commandTimeoutMs: 200 });
    await expect(store.ping()).rejects.toThrow(/idemkit redis store: ping failed/);
    client.disconnect();
  });
});

describe.skipIf(Boolean(skipCluster))("redis store: list on a Cluster", () => {
  const clusters: [string, () => Promise<{ client: RedisClient; close(): Promise<unknown> }>][] = [
    [
      "ioredis",
      async () => {
        const client = new Cluster(nodes);
        return { client, close: () => client.quit() };
      },
    ],
    [
      "node-redis",
      async () => {
        const client = await nodeRedisCluster();
        return { client, close: () => client.close() };
      },
    ],
  ];
  let admin: Cluster;
  beforeAll(() => {
    admin = new Cluster(nodes);
  });
  afterAll(async () => {
    await admin.quit();
  });

  for (const [name, open] of clusters) {
    it(`${name}: scans every master, one after the other, in pages of the limit`, async () => {
      const { client, close } = await open();
      const prefix = `idemkit-list-${randomUUID()}:`;
      try {
        const store = createRedisStore({ client, prefix });
        const keys = Array.from({ length: 30 }, (_, i) => `k${i}`);
        for (const key of keys) await store.claim(key, claimOf());
        // Every master holds some of them.
        await admin.cluster("SLOTS");
        const perMaster = await Promise.all(admin.nodes("master").map((node) => node.keys(`${prefix}*`)));
        expect(perMaster.filter((found) => found.length > 0).length).toBeGreaterThanOrEqual(3);
        const { keys: listed, sizes } = await listAll(store, { limit: 4 });
        expect(listed).toEqual([...keys].sort());
        expect(Math.max(...sizes)).toBeLessThanOrEqual(4);
        expect((await listAll(store, { state: "completed" })).keys).toEqual([]);
        await expect(store.ping()).resolves.toBeUndefined();
      } finally {
        await Promise.all(
          admin.nodes("master").map(async (node) => {
            const left = await node.keys(`${prefix}*`);
            if (left.length > 0) await Promise.all(left.map((key) => node.del(key)));
          }),
        );
        await close();
      }
    });
  }

  it("a cursor naming a master the client no longer has fails, saying to start again", async () => {
    const client = new Cluster(nodes);
    try {
      const store = createRedisStore({ client });
      const cursor = Buffer.from(JSON.stringify({ node: "127.0.0.1:1", scan: "0" })).toString("base64url");
      await expect(store.list({ cursor })).rejects.toThrow(
        /the Cluster changed during the listing; start it again/,
      );
    } finally {
      await client.quit();
    }
  });
});
