import { createRedisStore } from "@idemkit/redis";
import type { Redis } from "ioredis";
import { idemkitContender, RETENTION_MS } from "./idemkit.js";
import { sha256 } from "./memory.js";
import { type Contender, InFlightError, TAKEOVER_LEASE_MS } from "./types.js";

export function redisIdemkit(client: Redis): Contender {
  return idemkitContender("redis", createRedisStore({ client }));
}

/**
 * The hand-written minimal baseline on the same ioredis client: one `SET k v NX PX lease GET` claims
 * the key or returns the existing value in one round trip (Redis ≥ 7), one `SET k outcome XX PX`
 * completes it. No owner token, so a stale owner can overwrite a takeover: that is what idemkit's
 * Lua scripts pay for.
 */
export function redisBaseline(client: Redis): Contender {
  return {
    name: "baseline",
    store: "redis",
    async run(key, input, work) {
      const k = `bl:${key}`;
      const fingerprint = sha256(input);
      const existing = await client.set(k, `p${fingerprint}`, "PX", 30_000, "NX", "GET");
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
      await client.set(k, `c${fingerprint}${JSON.stringify(value)}`, "PX", RETENTION_MS, "XX");
      return value;
    },
    async abandon(key, input) {
      await client.set(`bl:${key}`, `p${sha256(input)}`, "PX", TAKEOVER_LEASE_MS, "NX");
    },
    async close() {},
  };
}
