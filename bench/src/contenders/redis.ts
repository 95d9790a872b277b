import { createRedisStore } from "@idemkit/redis";
import type { Redis } from "ioredis";
import { idemkitContender, RETENTION_MS } from "./idemkit.js";
import { sha256 } from "./memory.js";
import { type Contender, InFlightError, TAKEOVER_LEASE_MS } from "./types.js";

export function redisIdemkit(client: Redis): Contender {
  return idemkitContender("redis", createRedisStore({ client }));
}

/** The three `SET`s the baseline sends, spelt by each client in its own way. */
export interface BaselineSets {
  /** `SET k v NX PX ms GET`: the old value, or `null` when this call set it. */
  claim(k: string, v: string, ms: number): Promise<string | null>;
  /** `SET k v XX PX ms`. */
  replace(k: string, v: string, ms: number): Promise<unknown>;
  /** `SET k v NX PX ms`. */
  create(k: string, v: string, ms: number): Promise<unknown>;
  del(k: string): Promise<unknown>;
}

/**
 * The hand-written minimal baseline: one `SET k v NX PX lease GET` claims the key or returns the
 * existing value in one round trip (Redis ≥ 7), one `SET k outcome XX PX` completes it. No owner
 * token, so a stale owner can overwrite a takeover: that is what idemkit's Lua scripts pay for.
 */
export function setBaseline(store: Contender["store"], sets: BaselineSets): Contender {
  return {
    name: "baseline",
    store,
    async run(key, input, work) {
      const k = `bl:${key}`;
      const fingerprint = sha256(input);
      const existing = await sets.claim(k, `p${fingerprint}`, 30_000);
      if (existing !== null) {
        if (existing.slice(1, 65) !== fingerprint) throw new Error("fingerprint mismatch");
        if (existing[0] === "p") throw new InFlightError(key);
        return JSON.parse(existing.slice(65));
      }
      let value: unknown;
      try {
        value = await work();
      } catch (error) {
        await sets.del(k);
        throw error;
      }
      await sets.replace(k, `c${fingerprint}${JSON.stringify(value)}`, RETENTION_MS);
      return value;
    },
    async abandon(key, input) {
      await sets.create(`bl:${key}`, `p${sha256(input)}`, TAKEOVER_LEASE_MS);
    },
    async close() {},
  };
}

/** The baseline on the same ioredis client. */
export function redisBaseline(client: Redis): Contender {
  return setBaseline("redis", {
    claim: (k, v, ms) => client.set(k, v, "PX", ms, "NX", "GET"),
    replace: (k, v, ms) => client.set(k, v, "PX", ms, "XX"),
    create: (k, v, ms) => client.set(k, v, "PX", ms, "NX"),
    del: (k) => client.del(k),
  });
}
