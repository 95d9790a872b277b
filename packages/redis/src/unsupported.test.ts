// Clients the store would drive wrongly are refused when it is created, saying what to pass instead:
// a node-redis pool (its keyPrefix was ignored), Sentinel clients (malformed frames), node-redis 4, and
// ioredis with `stringNumbers` (integer replies misread).
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { skipUnlessAvailable } from "@idemkit/conformance";
import { createClientPool, createSentinel } from "@redis/client";
import { Cluster, Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedisStore, type RedisStoreOptions } from "./index.js";
import { CLUSTER_NODES, probeCluster, probeRedis, REDIS_URL } from "./testing/clients.js";
import { type Throwaway, throwawayRedis } from "./testing/throwaway.js";

const skip = skipUnlessAvailable("redis", await probeRedis());
const store = (client: unknown) => createRedisStore({ client } as RedisStoreOptions);

describe.skipIf(Boolean(skip))("unsupported node-redis clients are refused", () => {
  it("a createClientPool (before: accepted, and its keyPrefix ignored, so apps it separated shared keys)", async () => {
    const pool = createClientPool({ url: REDIS_URL, keyPrefix: "app-a:" });
    pool.on("error", () => {});
    await pool.connect();
    try {
      expect(() => store(pool)).toThrow(TypeError);
      expect(() => store(pool)).toThrow(
        /client pool \(createClientPool\) is not supported\. Pass a node-redis createClient\(\)/,
      );
    } finally {
      await pool.close();
    }
  });

  describe("Sentinel (before: a lease was accepted and sent malformed frames, 'ERR Protocol error')", () => {
    let master: Throwaway;
    let sentinel: Throwaway;
    beforeAll(async () => {
      master = await throwawayRedis();
      sentinel = await throwawayRedis([], `sentinel monitor tm 127.0.0.1 ${master.port} 1`);
    }, 20_000);
    afterAll(async () => {
      await sentinel?.stop();
      await master?.stop();
    });

    it("createSentinel, its acquire() lease and the client its use() lends", async () => {
      const client = createSentinel({
        name: "tm",
        sentinelRootNodes: [{ host: "127.0.0.1", port: sentinel.port }],
      });
      client.on("error", () => {});
      await client.connect();
      const message = /Sentinel clients .* are not supported\. For Sentinel, pass an ioredis Redis/;
      try {
        expect(() => store(client)).toThrow(message);
        const lease = await client.acquire();
        expect(() => store(lease)).toThrow(message);
        lease.release();
        await client.use(async (used) => expect(() => store(used)).toThrow(message));
      } finally {
        await client.close();
      }
    });
  });
});

// node-redis 4 is not a dependency of this package; the workspace has it through another package.
const v4Path = fileURLToPath(
  new URL(
    "../../../node_modules/.pnpm/@redis+client@1.6.1/node_modules/@redis/client/dist/index.js",
    import.meta.url,
  ),
);
const v4Skip = existsSync(v4Path) ? await probeCluster() : `no @redis/client 1.x at ${v4Path}`;

describe.skipIf(Boolean(skip) || Boolean(v4Skip))("node-redis 4 is refused, naming what is supported", () => {
  it("its Cluster (before: accepted; replies came back as strings, duplicates rejected, get gave undefined) and client", async () => {
    const v4 = (await import(v4Path)) as typeof import("@redis/client");
    const message =
      /node-redis 4 client or Cluster \(`redis@4`, `@redis\/client` 1\.x\).*supports node-redis 6 \(`redis` or `@redis\/client` \^6\)/;
    const { host, port } = CLUSTER_NODES[0] ?? { host: "127.0.0.1", port: 7000 };
    const cluster = v4.createCluster({ rootNodes: [{ url: `redis://${host}:${port}` }] });
    cluster.on("error", () => {});
    await cluster.connect();
    const client = v4.createClient({ url: REDIS_URL });
    client.on("error", () => {});
    await client.connect();
    try {
      expect(() => store(cluster)).toThrow(message);
      expect(() => store(client)).toThrow(message);
    } finally {
      await (cluster as unknown as { quit(): Promise<unknown> }).quit();
      await (client as unknown as { quit(): Promise<unknown> }).quit();
    }
  });
});

describe.skipIf(Boolean(skip))("ioredis with stringNumbers is refused", () => {
  const message =
    /created with `stringNumbers` is not supported.*client\.duplicate\(\{ stringNumbers: false \}\)/;

  it("a Redis with it set to any truthy value (ioredis reads it so), a Cluster through redisOptions or a startup node; the same clients without it are taken", async () => {
    for (const value of [true, 1, "true"]) {
      const redis = new Redis(REDIS_URL, { lazyConnect: true, stringNumbers: value as boolean });
      expect(() => store(redis)).toThrow(TypeError);
      expect(() => store(redis)).toThrow(message);
      expect(() => store(redis.duplicate({ stringNumbers: false }))).not.toThrow();
    }
    const lazy = { lazyConnect: true };
    const [first, ...rest] = CLUSTER_NODES;
    for (const cluster of [
      new Cluster(CLUSTER_NODES, { ...lazy, redisOptions: { stringNumbers: true } }),
      new Cluster([{ ...first, stringNumbers: true } as { host: string; port: number }, ...rest], lazy),
    ]) {
      expect(() => store(cluster)).toThrow(message);
    }
    expect(() => store(new Cluster(CLUSTER_NODES, lazy))).not.toThrow();
    // A Cluster does not pass a top-level stringNumbers on to its nodes: taken.
    expect(() => store(new Cluster(CLUSTER_NODES, { ...lazy, stringNumbers: true } as never))).not.toThrow();
  });

  it("why: on such a connection a new key's claim fails (its fence comes back as a string)", async () => {
    const client = new Redis(REDIS_URL, { lazyConnect: true });
    const taken = store(client);
    // ioredis reads the option when it connects: set after the check, it reaches the reply parser.
    (client.options as { stringNumbers: boolean }).stringNumbers = true;
    await client.connect();
    try {
      await expect(
        taken.claim(`unsupported:${Date.now()}:${Math.random()}`, {
          token: "t",
          fingerprint: "",
          leaseMs: 1000,
          retentionMs: 1000,
        }),
      ).rejects.toThrow(/unexpected reply 1,0/);
    } finally {
      client.disconnect();
    }
  });
});
