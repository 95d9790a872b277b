// #region store
import { createIdempotency } from "@idemkit/core";
import { createRedisStore } from "@idemkit/redis";
import { Redis } from "ioredis";
import { accountIdOf } from "./your-app.js";

const client = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379", {
  enableOfflineQueue: false, // fail fast while disconnected instead of queueing
  commandTimeout: 1_000, // bound a command sent to a Redis that hangs
  maxRetriesPerRequest: 1,
  lazyConnect: true,
});
await client.connect(); // without an offline queue, connect before the first command

const store = createRedisStore({ client });
await store.checkServer(); // rejects unless maxmemory-policy is noeviction
const idem = createIdempotency({ store, scope: (request) => accountIdOf(request) });

// #endregion store

// #region cluster
import { Cluster } from "ioredis";

const cluster = new Cluster([{ host: "127.0.0.1", port: 7000 }], {
  enableOfflineQueue: false,
  redisOptions: { commandTimeout: 1_000 },
});
const clusterStore = createRedisStore({ client: cluster });
await clusterStore.checkServer(); // asks every master

// #endregion cluster
export { idem };
