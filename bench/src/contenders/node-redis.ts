import { createRedisStore } from "@idemkit/redis";
import type { RedisClientType } from "@redis/client";
import { idemkitContender } from "./idemkit.js";
import { setBaseline } from "./redis.js";
import type { Contender } from "./types.js";

export function nodeRedisIdemkit(client: RedisClientType): Contender {
  return idemkitContender("node-redis", createRedisStore({ client }));
}

/** The Redis baseline (see redis.ts) on the same node-redis client. */
export function nodeRedisBaseline(client: RedisClientType): Contender {
  return setBaseline("node-redis", {
    claim: (k, v, ms) =>
      client.set(k, v, { condition: "NX", expiration: { type: "PX", value: ms }, GET: true }) as Promise<
        string | null
      >,
    replace: (k, v, ms) => client.set(k, v, { condition: "XX", expiration: { type: "PX", value: ms } }),
    create: (k, v, ms) => client.set(k, v, { condition: "NX", expiration: { type: "PX", value: ms } }),
    del: (k) => client.del(k),
  });
}
