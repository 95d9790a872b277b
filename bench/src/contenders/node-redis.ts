import { createRedisStore } from "@idemkit/redis";
import type { RedisClientType } from "@redis/client";
import { idemkitContender, RETENTION_MS } from "./idemkit.js";
import { sha256 } from "./memory.js";
import { type Contender, InFlightError, TAKEOVER_LEASE_MS } from "./types.js";

export function nodeRedisIdemkit(client: RedisClientType): Contender {
  return idemkitContender("node-redis", createRedisStore({ client }));
}

/**
 * The Redis baseline (see redis.ts) on the same node-redis client: `SET k v NX PX lease GET` claims
 * the key or returns the existing value in one round trip, `SET k outcome XX PX` completes it.
 */
export function nodeRedisBaseline(client: RedisClientType): Contender {
  return {
    name: "baseline",
    store: "node-redis",
    async run(key, input, work) {
      const k = `bl:${key}`;
      const fingerprint = sha256(input);
      const existing = await client.set(k, `p${fingerprint}`, {
        condition: "NX",
        expiration: { type: "PX", value: 30_000 },
        GET: true,
      });
      if (existing !== null) {
        if (existing.slice(1, 65) !== fingerprint) throw new Error("fingerprint mismatch");
        if (existing[0] === "p") throw new InFlightError(key);
        return JSON.parse(existing.slice(65));
      }
      let value: unknown;
      try {
        value = await work();
      } catch (error) {
        await client.del(k);
        throw error;
      }
      await client.set(k, `c${fingerprint}${JSON.stringify(value)}`, {
        condition: "XX",
        expiration: { type: "PX", value: RETENTION_MS },
      });
      return value;
    },
    async abandon(key, input) {
      await client.set(`bl:${key}`, `p${sha256(input)}`, {
        condition: "NX",
        expiration: { type: "PX", value: TAKEOVER_LEASE_MS },
      });
    },
    async close() {},
  };
}
