// checkServer() on a client connected to a replica: the policy reads like its master's, but every
// script is refused (READONLY), so it must reject naming the server as a replica. Throwaway servers.
import { createClient } from "@redis/client";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RedisClient } from "./clients.js";
import { createRedisStore, RedisStoreError } from "./index.js";
import { type Throwaway, throwawayRedis } from "./testing/throwaway.js";

let master: Throwaway;
let replica: Throwaway;
beforeAll(async () => {
  master = await throwawayRedis();
  replica = await throwawayRedis(["--replicaof", "127.0.0.1", String(master.port)]);
}, 20_000);
afterAll(async () => {
  await replica?.stop();
  await master?.stop();
});

const open = {
  ioredis: async (port: number) => {
    const client = new Redis({ host: "127.0.0.1", port });
    return { client, close: () => client.quit() };
  },
  nodeRedis: async (port: number) => {
    const client = createClient({ socket: { host: "127.0.0.1", port } });
    client.on("error", () => {});
    await client.connect();
    return { client: client as unknown as RedisClient, close: () => client.close() };
  },
};

describe("checkServer() and the server's role", () => {
  it.each(["ioredis", "nodeRedis"] as const)(
    "%s: rejects on a replica, naming it (before: resolved, and every claim then failed READONLY); resolves on its master",
    async (library) => {
      const onReplica = await open[library](replica.port);
      const onMaster = await open[library](master.port);
      try {
        const store = createRedisStore({ client: onReplica.client });
        const error = await store.checkServer().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(RedisStoreError);
        expect((error as Error).message).toMatch(
          `checkServer failed: 127.0.0.1:${replica.port} is a replica (role slave), not a master`,
        );
        expect(await createRedisStore({ client: onMaster.client }).checkServer()).toEqual([
          { node: `127.0.0.1:${master.port}`, maxmemoryPolicy: "noeviction" },
        ]);
      } finally {
        await onReplica.close();
        await onMaster.close();
      }
    },
  );
});
