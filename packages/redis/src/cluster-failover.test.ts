// checkServer() on a Cluster after a failover reads the current masters, not the client's cached
// topology (refreshed only on a MOVED). A throwaway Cluster: one master with all slots, one replica.
import { createCluster } from "@redis/client";
import { Cluster, Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RedisClient } from "./clients.js";
import { createRedisStore } from "./index.js";
import { type Throwaway, throwawayRedis } from "./testing/throwaway.js";

const clusterArgs = ["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"];
let first: Throwaway;
let second: Throwaway;
const admin: Redis[] = [];

/** Polls `check` every 50 ms until it holds (10 s at most). */
async function until(what: string, check: () => Promise<boolean>) {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const role = async (client: Redis) => ((await client.call("ROLE")) as string[])[0];

beforeAll(async () => {
  first = await throwawayRedis(clusterArgs);
  second = await throwawayRedis(clusterArgs);
  const [a, b] = [first, second].map(({ port }) => new Redis({ port, host: "127.0.0.1" })) as [Redis, Redis];
  admin.push(a, b);
  await a.call("CLUSTER", "ADDSLOTSRANGE", "0", "16383");
  await b.call("CLUSTER", "MEET", "127.0.0.1", String(first.port));
  const id = String(await a.call("CLUSTER", "MYID"));
  await until("the nodes to meet", async () => String(await b.call("CLUSTER", "NODES")).includes(id));
  await b.call("CLUSTER", "REPLICATE", id);
  await until("the replica to sync", async () => /master_link_status:up/.test(await b.info("replication")));
  await until("cluster_state ok", async () =>
    (await Promise.all(admin.map((c) => c.call("CLUSTER", "INFO")))).every((i) =>
      /cluster_state:ok/.test(String(i)),
    ),
  );
}, 30_000);

afterAll(async () => {
  for (const client of admin) client.disconnect();
  await second?.stop();
  await first?.stop();
});

describe("checkServer() on a Cluster after a failover", () => {
  it("ioredis and node-redis: names the new master (before: the cached old one, now a replica)", async () => {
    const root = { host: "127.0.0.1", port: first.port };
    const ioredis = new Cluster([root]);
    const nodeRedis = createCluster({ rootNodes: [{ url: `redis://127.0.0.1:${first.port}` }] });
    nodeRedis.on("error", () => {});
    await nodeRedis.connect();
    const stores = [ioredis, nodeRedis as unknown as RedisClient].map((client) =>
      createRedisStore({ client }),
    );
    try {
      for (const store of stores) {
        expect(await store.checkServer()).toEqual([
          { node: `127.0.0.1:${first.port}`, maxmemoryPolicy: "noeviction" },
        ]);
      }
      const [a, b] = admin as [Redis, Redis];
      await b.call("CLUSTER", "FAILOVER");
      await until("the failover", async () => (await role(b)) === "master" && (await role(a)) === "slave");
      for (const store of stores) {
        expect(await store.checkServer()).toEqual([
          { node: `127.0.0.1:${second.port}`, maxmemoryPolicy: "noeviction" },
        ]);
      }
    } finally {
      ioredis.disconnect();
      await nodeRedis.close();
    }
  }, 30_000);
});
