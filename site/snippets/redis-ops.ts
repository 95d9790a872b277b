import { createRedisStore } from "@idemkit/redis";
import { Redis } from "ioredis";

const client = new Redis({ enableOfflineQueue: false, lazyConnect: true });
await client.connect();
const store = createRedisStore({ client });

// #region check
// At every start: rejects (RedisStoreError, operation "checkServer") naming each server whose
// maxmemory-policy is not noeviction.
const servers = await store.checkServer();
for (const { node, maxmemoryPolicy, unknown } of servers) {
  // A server that refuses both CONFIG GET and INFO cannot be checked: decide yourself.
  if (maxmemoryPolicy === undefined) console.warn(`cannot read maxmemory-policy on ${node}: ${unknown}`);
}
// #endregion check

// #region evicted
// Nothing checks at run time: alert on evictions (INFO stats counts them).
const stats = await client.info("stats");
const evicted = Number(/evicted_keys:(\d+)/.exec(stats)?.[1] ?? 0);
if (evicted > 0) console.error(`redis evicted ${evicted} keys since its start`);
// #endregion evicted
