import { randomUUID } from "node:crypto";
import { runStoreConformance, skipUnlessAvailable } from "@idemkit/conformance";
import type { IdempotencyStore } from "@idemkit/core";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedisStore } from "./index.js";
import { CLAIM, COMPLETE, EXTEND } from "./scripts.js";

const url = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const prefix = "idemkit-test:";
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const utf8 = (text: string) => new TextEncoder().encode(text);

async function probe(): Promise<string | undefined> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 1000, retryStrategy: () => null });
  let lastError: Error | undefined;
  client.on("error", (error) => {
    lastError = error;
  });
  try {
    await client.connect();
    await client.ping();
    return undefined;
  } catch (error) {
    return `no Redis at ${url} (${(lastError ?? (error as Error)).message}); start one or set REDIS_URL`;
  } finally {
    client.disconnect();
  }
}

const skip = skipUnlessAvailable("redis", await probe());
const clients = new WeakMap<IdempotencyStore, Redis>();

runStoreConformance({
  name: "redis",
  skip,
  createStore: () => {
    const client = new Redis(url);
    const store = createRedisStore({ client, prefix });
    clients.set(store, client);
    return store;
  },
  teardown: async (store) => {
    await clients.get(store)?.quit();
  },
});

// ioredis's auto-pipelining batches commands per tick: the store must work under it too.
runStoreConformance({
  name: "redis (enableAutoPipelining)",
  skip,
  createStore: () => {
    const client = new Redis(url, { enableAutoPipelining: true });
    const store = createRedisStore({ client, prefix });
    clients.set(store, client);
    return store;
  },
  teardown: async (store) => {
    await clients.get(store)?.quit();
  },
});

describe.skipIf(Boolean(skip))("redis store with the client's own keyPrefix", () => {
  it("writes under the client's keyPrefix, then the store's prefix, with or without auto-pipelining", async () => {
    const raw = new Redis(url);
    for (const enableAutoPipelining of [false, true]) {
      const client = new Redis(url, { keyPrefix: "app:", enableAutoPipelining });
      const store = createRedisStore({ client, prefix: "s:" });
      const key = `prefixed:${randomUUID()}`;
      const claim = { token: randomUUID(), fingerprint: "fp", leaseMs: 60_000, retentionMs: 60_000 };
      expect((await store.claim(key, claim)).acquired).toBe(true);
      expect(await raw.exists(`app:s:${key}`)).toBe(1);
      expect(await raw.exists(`s:${key}`)).toBe(0);
      expect(
        await store.complete(key, claim.token, { result: new Uint8Array([1]), retentionMs: 60_000 }),
      ).toBe(true);
      expect((await store.get(key))?.state).toBe("completed");
      await raw.del(`app:s:${key}`);
      await client.quit();
    }
    await raw.quit();
  });
});

describe.skipIf(Boolean(skip))("redis store", () => {
  let client: Redis;
  let store: IdempotencyStore;
  const key = () => `direct:${randomUUID()}`;
  const claimOf = (leaseMs = 60_000, retentionMs = 60_000) => ({
    token: randomUUID(),
    fingerprint: "fp",
    leaseMs,
    retentionMs,
  });

  beforeAll(() => {
    client = new Redis(url);
    store = createRedisStore({ client, prefix });
  });
  afterAll(async () => {
    await client.quit();
  });

  it("keeps the record its retention past its lease end, and completion never shortens a TTL", async () => {
    const k = key();
    const owner = claimOf(200, 5_000);
    await store.claim(k, owner);
    const ttlAfterClaim = await client.pttl(prefix + k);
    expect(ttlAfterClaim).toBeGreaterThan(5_000);
    expect(ttlAfterClaim).toBeLessThanOrEqual(5_201);
    expect(await store.extend(k, owner.token, 100)).toBe(true);
    expect(await client.pttl(prefix + k)).toBeGreaterThan(4_000);
    await sleep(300);
    // Expired lease: absent to every reader, but physically kept so the next owner's fence is higher.
    expect(await store.get(k)).toBeUndefined();
    expect(await client.exists(prefix + k)).toBe(1);
    const next = claimOf(60_000, 3_000);
    expect(await store.claim(k, next)).toEqual({ acquired: true, fence: 2, takeover: true });
    expect(await client.pttl(prefix + k)).toBeGreaterThan(59_000);
    expect(await store.complete(k, next.token, { result: utf8("done"), retentionMs: 3_000 })).toBe(true);
    // Completion never shortens the TTL the claim set (the fence must be kept that long)...
    expect(await client.pttl(prefix + k)).toBeGreaterThan(59_000);
    // ...and lengthens it when retention ends later.
    const third = claimOf(100, 100);
    const k2 = key();
    await store.claim(k2, third);
    expect(await store.complete(k2, third.token, { result: utf8("done"), retentionMs: 30_000 })).toBe(true);
    expect(await client.pttl(prefix + k2)).toBeGreaterThan(29_000);
  });

  it("retention 60 s, lease 5 min (scaled down: 400 ms, 1 s): the TTL runs to the lease end + retention, and extend moves it", async () => {
    const k = key();
    const stalled = claimOf(1_000, 400);
    await store.claim(k, stalled);
    const ttl = await client.pttl(prefix + k);
    expect(ttl).toBeGreaterThan(1_000);
    expect(ttl).toBeLessThanOrEqual(1_401);
    await sleep(1_100); // the lease ended 100 ms ago: the key must still be there, with its fence
    expect(await store.get(k)).toBeUndefined();
    expect(await client.exists(prefix + k)).toBe(1);
    const next = claimOf(1_000, 400);
    expect(await store.claim(k, next)).toEqual({ acquired: true, fence: 2, takeover: true });
    // Extended late in its lease, the record is kept 400 ms past the new lease end.
    await sleep(500);
    expect(await store.extend(k, next.token, 1_000)).toBe(true);
    const extended = await client.pttl(prefix + k);
    expect(extended).toBeGreaterThan(1_200);
    expect(extended).toBeLessThanOrEqual(1_401);
    await sleep(1_100);
    expect(await store.claim(k, claimOf(1_000, 400))).toEqual({ acquired: true, fence: 3, takeover: true });
  });

  it("rounds new deadlines up to the millisecond: a lease or retention never ends before the call's time + its length", async () => {
    // TIME and the script in one MULTI: the script runs microseconds after `t`, almost always in
    // the same millisecond, where flooring TIME would end the lease up to 1 ms before t + lease.
    const micros = (reply: unknown) => {
      const [seconds, us] = reply as [string, string];
      return Number(seconds) * 1_000_000 + Number(us);
    };
    const lease = 60_000;
    for (let i = 0; i < 20; i++) {
      const k = key();
      const token = randomUUID();
      const claimed = await client
        .multi()
        .time()
        .eval(CLAIM.lua, 1, prefix + k, token, "fp", String(lease), "1000")
        .exec();
      const afterClaim = await store.get(k);
      expect(afterClaim?.state).toBe("in_progress");
      if (afterClaim?.state !== "in_progress") return;
      expect(afterClaim.leaseExpiresAt * 1000).toBeGreaterThanOrEqual(
        micros(claimed?.[0]?.[1]) + lease * 1000,
      );
      const extended = await client
        .multi()
        .time()
        .eval(EXTEND.lua, 1, prefix + k, token, String(lease))
        .exec();
      const afterExtend = await store.get(k);
      if (afterExtend?.state !== "in_progress") throw new Error("expected in_progress");
      expect(afterExtend.leaseExpiresAt * 1000).toBeGreaterThanOrEqual(
        micros(extended?.[0]?.[1]) + lease * 1000,
      );
      const completed = await client
        .multi()
        .time()
        .eval(COMPLETE.lua, 1, prefix + k, token, "x", String(lease))
        .exec();
      const afterComplete = await store.get(k);
      if (afterComplete?.state !== "completed") throw new Error("expected completed");
      expect(afterComplete.expiresAt * 1000).toBeGreaterThanOrEqual(
        micros(completed?.[0]?.[1]) + lease * 1000,
      );
      // And a deadline has ended exactly when Redis's clock, rounded down, reaches it: never later.
      expect(afterComplete.expiresAt * 1000).toBeLessThanOrEqual(
        micros(completed?.[0]?.[1]) + lease * 1000 + 2000,
      );
    }
  });

  it("release ends the lease but keeps the hash and its TTL, so the fence survives; delete forgets it", async () => {
    const k = key();
    const owner = claimOf(60_000, 120_000);
    await store.claim(k, owner);
    expect(await store.release(k, owner.token)).toBe(true);
    expect(await store.get(k)).toBeUndefined();
    expect(await client.exists(prefix + k)).toBe(1);
    expect(await client.pttl(prefix + k)).toBeGreaterThan(119_000);
    expect(await store.claim(k, claimOf())).toEqual({ acquired: true, fence: 2, takeover: false });
    expect(await store.delete(k)).toBe(true);
    expect(await client.exists(prefix + k)).toBe(0);
    expect(await store.claim(k, claimOf())).toEqual({ acquired: true, fence: 1, takeover: false });
  });

  it("treats a computed TTL of 0 as already expired, without an error; a lease of 0 or a negative retention is refused", async () => {
    const k = key();
    const owner = claimOf();
    await store.claim(k, owner);
    expect(await store.complete(k, owner.token, { result: utf8("gone"), retentionMs: 0 })).toBe(true);
    expect(await store.get(k)).toBeUndefined();
    // Absent, but kept with its fence until the claim's TTL.
    expect(await client.exists(prefix + k)).toBe(1);

    const again = claimOf();
    expect(await store.claim(k, again)).toEqual({ acquired: true, fence: 2, takeover: false });
    // Outside the contract (a lease is more than 0, a retention 0 or more): refused before Redis.
    await expect(store.extend(k, again.token, 0)).rejects.toThrow(RangeError);
    await expect(store.complete(k, again.token, { result: utf8("late"), retentionMs: -5 })).rejects.toThrow(
      RangeError,
    );
    expect(await store.get(k)).toMatchObject({ state: "in_progress", token: again.token });
  });

  it("rejects a stale owner's completion after a takeover and keeps the new owner's outcome", async () => {
    const k = key();
    const stale = claimOf(100);
    await store.claim(k, stale);
    await sleep(200);
    const fresh = claimOf();
    expect(await store.claim(k, fresh)).toEqual({ acquired: true, fence: 2, takeover: true });
    expect(await store.complete(k, fresh.token, { result: utf8("fresh"), retentionMs: 60_000 })).toBe(true);
    expect(await store.complete(k, stale.token, { result: utf8("stale"), retentionMs: 60_000 })).toBe(false);
    expect(await store.release(k, stale.token)).toBe(false);
    const read = await store.get(k);
    expect(read).toMatchObject({ state: "completed", token: fresh.token, fence: 2 });
    expect(read?.state === "completed" && new TextDecoder().decode(read.result)).toBe("fresh");
  });

  it("survives SCRIPT FLUSH in the middle of a run without a failed operation", async () => {
    const admin = new Redis(url);
    const other = new Redis(url);
    const stores = [store, createRedisStore({ client: other, prefix })];
    const flush = () => admin.script("FLUSH");
    const evals = async () =>
      Number(/^cmdstat_eval:calls=(\d+)/m.exec(await admin.info("commandstats"))?.[1] ?? 0);
    const evalsBefore = await evals();
    try {
      for (let round = 0; round < 5; round++) {
        const keys = Array.from({ length: 20 }, (_, i) => ({
          k: key(),
          owner: claimOf(),
          s: stores[i % 2]!,
        }));
        // Flushed before every phase, and once more while the phase's commands are in flight.
        await flush();
        const claims = keys.map(({ k, owner, s }) => s.claim(k, owner));
        await flush();
        expect((await Promise.all(claims)).every((r) => r.acquired)).toBe(true);
        await flush();
        const done = keys.map(({ k, owner, s }) =>
          s.complete(k, owner.token, { result: utf8(k), retentionMs: 60_000 }),
        );
        await flush();
        expect(await Promise.all(done)).toEqual(keys.map(() => true));
        await flush();
        const replays = await Promise.all(keys.map(({ k, s }) => s.claim(k, claimOf())));
        for (const [i, r] of replays.entries()) {
          expect(
            !r.acquired && r.record.state === "completed" && new TextDecoder().decode(r.record.result),
          ).toBe(keys[i]!.k);
        }
        await flush();
        expect(
          (await Promise.all(keys.map(({ k, s }) => s.get(k)))).every((r) => r?.state === "completed"),
        ).toBe(true);
      }
      // The flushes did bite: scripts were re-sent whole (EVAL) after NOSCRIPT.
      expect(await evals()).toBeGreaterThan(evalsBefore);
    } finally {
      await Promise.all([admin.quit(), other.quit()]);
    }
  });
});

describe.skipIf(Boolean(skip))("redis store round trips, counted as the client sends them", () => {
  let client: Redis;
  let store: IdempotencyStore;
  // Counted on this client, not with the server's INFO commandstats: those counts are server-wide,
  // and anyone else using the shared server while a measurement runs would change them.
  let sent: string[] = [];

  async function count(action: () => Promise<unknown>): Promise<{ total: number; scripts: number }> {
    sent = [];
    await action();
    const scripts = sent.filter((name) => name === "evalsha" || name === "eval").length;
    return { total: sent.length, scripts };
  }

  beforeAll(async () => {
    client = new Redis(url);
    const send = client.sendCommand.bind(client);
    client.sendCommand = ((command: { name: string }, ...rest: unknown[]) => {
      sent.push(command.name.toLowerCase());
      return (send as (...args: unknown[]) => unknown)(command, ...rest);
    }) as typeof client.sendCommand;
    store = createRedisStore({ client, prefix });
    // Load every script used below into Redis's cache first, as a long-running process has.
    const k = `count:${randomUUID()}`;
    const token = randomUUID();
    await store.claim(k, { token, fingerprint: "fp", leaseMs: 60_000, retentionMs: 60_000 });
    await store.complete(k, token, { result: utf8("warm"), retentionMs: 60_000 });
  });
  afterAll(async () => {
    await client.quit();
  });

  it("a new key costs exactly 2 commands, a replay and an in-flight duplicate exactly 1", async () => {
    const claim = () => ({ token: randomUUID(), fingerprint: "fp", leaseMs: 60_000, retentionMs: 60_000 });
    const k = `count:${randomUUID()}`;
    const owner = claim();
    const fresh = await count(async () => {
      expect((await store.claim(k, owner)).acquired).toBe(true);
      expect(await store.complete(k, owner.token, { result: utf8("ok"), retentionMs: 60_000 })).toBe(true);
    });
    expect(fresh).toEqual({ total: 2, scripts: 2 });

    const replay = await count(async () => {
      const again = await store.claim(k, claim());
      expect(!again.acquired && again.record.state).toBe("completed");
    });
    expect(replay).toEqual({ total: 1, scripts: 1 });

    const busy = `count:${randomUUID()}`;
    await store.claim(busy, claim());
    const duplicate = await count(async () => {
      const again = await store.claim(busy, claim());
      expect(!again.acquired && again.record.state).toBe("in_progress");
    });
    expect(duplicate).toEqual({ total: 1, scripts: 1 });
  });
});
