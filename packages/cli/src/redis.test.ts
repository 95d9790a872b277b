// The CLI on Redis, standalone (ioredis; node-redis with the store's prefix) and on a Cluster (every master
// scanned), with records an app's store wrote (see testing/scenario.ts).
import { randomUUID } from "node:crypto";
import { skipUnlessAvailable } from "@idemkit/conformance";
import { composeStoredKey } from "@idemkit/core";
import { createRedisStore, type RedisStore } from "@idemkit/redis";
import { Cluster, Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { idemkit, parsed } from "./testing/run.js";
import { storeScenario } from "./testing/scenario.js";

const url = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const nodes = (process.env.REDIS_CLUSTER_NODES ?? "127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002").split(",");
const clusterUrl = `redis+cluster://${nodes.join(",")}`;

/** Why a Redis (or every node of a Cluster) cannot be used, or `undefined` when it answers. */
async function probe(targets: string[], cluster: boolean): Promise<string | undefined> {
  for (const target of targets) {
    const client = new Redis(cluster ? `redis://${target}` : target, {
      lazyConnect: true,
      connectTimeout: 1000,
      retryStrategy: () => null,
    });
    client.on("error", () => {});
    try {
      await client.connect();
      if (cluster && !/^cluster_state:ok/m.test(await client.cluster("INFO")))
        return `the Redis Cluster node ${target} is not in state ok`;
    } catch (error) {
      return `no Redis${cluster ? " Cluster node" : ""} at ${target} (${(error as Error).message})${cluster ? "; run scripts/redis-cluster.sh start" : ""}`;
    } finally {
      client.disconnect();
    }
  }
  return undefined;
}

const skip = skipUnlessAvailable("redis", await probe([url], false));
const skipCluster = skipUnlessAvailable("redis-cluster", await probe(nodes, true));

/**
 * Moves the claim time in the record's header (`<s><k><fence>:<deadline>:<keep-until>:<claimed>:…`) 10
 * minutes back, keeping the key's TTL: as if it had been claimed then.
 */
async function age(raw: Redis | Cluster, key: string): Promise<void> {
  const [value, ttl] = await Promise.all([raw.getBuffer(key), raw.pttl(key)]);
  const header = /^(..\d+:-?\d+:\d+:)(\d+)(:.*)$/s.exec(value?.toString("latin1") ?? "");
  if (!header) throw new Error(`no record at ${key}`);
  const aged = `${header[1]}${Number(header[2]) - 600_000}${header[3]}`;
  await raw.set(key, Buffer.from(aged, "latin1"), "PX", ttl);
}

/** A scenario subject on Redis: the app's store on a client of `open`, the CLI with `args`. */
function subject(open: () => Redis | Cluster, prefix: string | undefined, args: string[]) {
  return () => {
    const client = open();
    let store: RedisStore;
    return {
      async store() {
        store = createRedisStore({ client, prefix });
        return store;
      },
      close: async () => void (await client.quit()),
      age: (key: string) => age(client, (prefix ?? "") + key),
      args,
      purges: false,
    };
  };
}

storeScenario(
  "idemkit on Redis (ioredis)",
  skip,
  subject(() => new Redis(url), undefined, ["--url", url]),
);
storeScenario(
  "idemkit on Redis (node-redis, the store's prefix)",
  skip,
  subject(() => new Redis(url), "app1:", [
    "--url",
    url,
    "--redis-client",
    "node-redis",
    "--redis-prefix",
    "app1:",
  ]),
);

describe.skipIf(Boolean(skipCluster))(
  skipCluster
    ? `idemkit on a Redis Cluster (skipped: ${skipCluster})`
    : "idemkit on a Redis Cluster: every master",
  () => {
    const scope = `cli-${randomUUID()}`;
    const keys = Array.from({ length: 24 }, (_, i) => composeStoredKey("idem:", "run", scope, `job-${i}`));
    let cluster: Cluster;
    beforeAll(async () => {
      cluster = new Cluster(
        nodes.map((n) => ({ host: n.split(":")[0] as string, port: Number(n.split(":")[1]) })),
      );
      const store = createRedisStore({ client: cluster });
      for (const key of keys)
        await store.claim(key, { token: randomUUID(), fingerprint: "", leaseMs: 60_000, retentionMs: 0 });
    });
    afterAll(async () => {
      await Promise.all(keys.map((key) => cluster.del(key)));
      await cluster.quit();
    });

    it("list and stats read the keys of every master, and list goes on across masters with its cursor", async () => {
      await cluster.cluster("SLOTS");
      const holding = await Promise.all(
        cluster.nodes("master").map((node) => node.keys(`idem:run:*${scope}*`)),
      );
      expect(holding.filter((found) => found.length > 0).length).toBeGreaterThanOrEqual(2);
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const ran = await idemkit([
          "list",
          "--url",
          clusterUrl,
          "--scope",
          scope,
          "--run",
          "--limit",
          "10",
          "--json",
          ...(cursor ? ["--cursor", cursor] : []),
        ]);
        expect(ran.code).toBe(0);
        const body = parsed(ran) as { records: { key: string }[]; cursor?: string };
        expect(body.records.length).toBeLessThanOrEqual(10);
        seen.push(...body.records.map((r) => r.key));
        cursor = body.cursor;
      } while (cursor !== undefined && ++pages < 20);
      expect([...new Set(seen)].sort()).toEqual([...keys].sort());
      const stats = await idemkit(["stats", "--url", clusterUrl, "--scope", scope, "--run", "--json"]);
      expect(parsed(stats)).toMatchObject({ inProgress: 24, completed: 0, total: 24 });
    });

    it("inspect and purge reach the master that holds the key; ping asks every master", async () => {
      const key = keys[7] as string;
      const inspected = await idemkit(["inspect", key, "--url", clusterUrl, "--json"]);
      expect(parsed(inspected)).toMatchObject({
        key,
        found: true,
        record: { state: "in_progress", fence: 1 },
      });
      const purged = await idemkit(["purge", key, "--url", clusterUrl, "--json"]);
      expect(parsed(purged)).toEqual({ key, purged: true, was: { state: "in_progress", fence: 1 } });
      expect(await cluster.exists(key)).toBe(0);
      const ping = await idemkit(["ping", "--url", clusterUrl]);
      expect(ping.stdout).toMatch(/^ok: the redis-cluster store answered in \d+ ms\n$/);
    });
  },
);

describe.skipIf(Boolean(skip))("idemkit on a Redis database that does not exist", () => {
  for (const client of ["ioredis", "node-redis"]) {
    it(`fails (exit 4) instead of using database 0 (${client})`, async () => {
      const outOfRange = new URL(url);
      outOfRange.pathname = "/99999";
      const ran = await idemkit(["list", "--url", outOfRange.href, "--redis-client", client, "--json"]);
      expect(ran.code).toBe(4);
      expect(JSON.parse(ran.stderr).error.message).toMatch(/DB index is out of range/);
    });
  }
});
