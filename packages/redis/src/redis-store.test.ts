import { randomUUID } from "node:crypto";
import { runStoreConformance, skipUnlessAvailable } from "@idemkit/conformance";
import type { IdempotencyStore } from "@idemkit/core";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedisStore } from "./index.js";
import { CLAIM, COMPLETE, EXTEND } from "./scripts.js";
import {
  nodeRedis,
  probeRedis,
  recordSent,
  STANDALONE_CLIENTS,
  type TestClient,
  REDIS_URL as url,
} from "./testing/clients.js";

const prefix = "idemkit-test:";
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const utf8 = (text: string) => new TextEncoder().encode(text);

const skip = skipUnlessAvailable("redis", await probeRedis());

const CLIENTS = STANDALONE_CLIENTS;

const closers = new WeakMap<IdempotencyStore, () => Promise<unknown>>();
for (const [name, open] of CLIENTS) {
  runStoreConformance({
    name: `redis on ${name}`,
    skip,
    createStore: async () => {
      const { client, close } = await open();
      const store = createRedisStore({ client, prefix });
      closers.set(store, close);
      return store;
    },
    teardown: async (store) => {
      await closers.get(store)?.();
    },
  });
}

describe.skipIf(Boolean(skip))("redis store with the client's own keyPrefix", () => {
  let raw: Redis;
  beforeAll(() => {
    raw = new Redis(url);
  });
  afterAll(async () => {
    await raw.quit();
  });

  async function expectPrefixed(client: TestClient["client"], clientPrefix: string) {
    const store = createRedisStore({ client, prefix: "s:" });
    const key = `prefixed:${randomUUID()}`;
    const claim = { token: randomUUID(), fingerprint: "fp", leaseMs: 60_000, retentionMs: 60_000 };
    expect((await store.claim(key, claim)).acquired).toBe(true);
    expect(await raw.exists(`${clientPrefix}s:${key}`)).toBe(1);
    expect(await raw.exists(`s:${key}`)).toBe(0);
    expect(await store.complete(key, claim.token, { result: new Uint8Array([1]), retentionMs: 60_000 })).toBe(
      true,
    );
    expect((await store.get(key))?.state).toBe("completed");
    await raw.del(`${clientPrefix}s:${key}`);
  }

  it("ioredis: writes under the client's keyPrefix, then the store's prefix, with or without auto-pipelining", async () => {
    for (const enableAutoPipelining of [false, true]) {
      const client = new Redis(url, { keyPrefix: "app:", enableAutoPipelining });
      await expectPrefixed(client, "app:");
      await client.quit();
    }
  });

  it("node-redis: writes under the client's keyPrefix (a string or bytes), then the store's prefix", async () => {
    for (const keyPrefix of ["app:", Buffer.from("bin:")]) {
      const client = await nodeRedis({ keyPrefix });
      await expectPrefixed(client, keyPrefix.toString());
      await client.close();
    }
  });
});

// The store on each library's client; `client` (ioredis) only looks at what it wrote.
for (const [name, open] of [CLIENTS[0]!, CLIENTS[2]!]) {
  describe.skipIf(Boolean(skip))(`redis store on ${name}`, () => {
    let client: Redis;
    let storeClient: TestClient;
    let store: IdempotencyStore;
    const key = () => `direct:${randomUUID()}`;
    const claimOf = (leaseMs = 60_000, retentionMs = 60_000) => ({
      token: randomUUID(),
      fingerprint: "fp",
      leaseMs,
      retentionMs,
    });

    beforeAll(async () => {
      client = new Redis(url);
      storeClient = await open();
      store = createRedisStore({ client: storeClient.client, prefix });
    });
    afterAll(async () => {
      await Promise.all([client.quit(), storeClient.close()]);
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

    // Scaled so that a loaded machine's stall of up to 700 ms between the steps changes nothing (CI saw
    // 300 ms of margin run out).
    it("retention 60 s, lease 5 min (scaled down: 800 ms, 2 s): the TTL runs to the lease end + retention, and extend moves it", async () => {
      const k = key();
      const stalled = claimOf(2_000, 800);
      await store.claim(k, stalled);
      const ttl = await client.pttl(prefix + k);
      expect(ttl).toBeGreaterThan(2_000);
      expect(ttl).toBeLessThanOrEqual(2_801);
      await sleep(2_100); // the lease ended 100 ms ago: the key must still be there, with its fence
      expect(await store.get(k)).toBeUndefined();
      expect(await client.exists(prefix + k)).toBe(1);
      const next = claimOf(2_000, 800);
      expect(await store.claim(k, next)).toEqual({ acquired: true, fence: 2, takeover: true });
      // Extended late in its lease, the record is kept 800 ms past the new lease end.
      await sleep(1_000);
      expect(await store.extend(k, next.token, 2_000)).toBe(true);
      const extended = await client.pttl(prefix + k);
      expect(extended).toBeGreaterThan(2_000);
      expect(extended).toBeLessThanOrEqual(2_801);
      await sleep(2_100);
      expect(await store.claim(k, claimOf(2_000, 800))).toEqual({ acquired: true, fence: 3, takeover: true });
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
      expect(await store.complete(k, stale.token, { result: utf8("stale"), retentionMs: 60_000 })).toBe(
        false,
      );
      expect(await store.release(k, stale.token)).toBe(false);
      const read = await store.get(k);
      expect(read).toMatchObject({ state: "completed", token: fresh.token, fence: 2 });
      expect(read?.state === "completed" && new TextDecoder().decode(read.result)).toBe("fresh");
    });

    it("survives SCRIPT FLUSH in the middle of a run without a failed operation", async () => {
      const admin = new Redis(url);
      const other = await open();
      const stores = [store, createRedisStore({ client: other.client, prefix })];
      const sent = [storeClient.record(), other.record()];
      const flush = () => admin.script("FLUSH");
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
        // The flushes did bite: both stores re-sent scripts whole (EVAL) after NOSCRIPT.
        for (const record of sent) expect(record).toContain("eval");
      } finally {
        await Promise.all([admin.quit(), other.close()]);
      }
    });
  });
}

// A small ASCII outcome goes to the client as a string (outcome-argument.ts), anything else
// as bytes: every byte value, and the sizes either side of the limit, come back exactly on each client.
describe.skipIf(Boolean(skip))("redis store: outcome bytes on either side of the string path", () => {
  const outcomes: [string, Uint8Array][] = [
    ...Array.from(
      { length: 256 },
      (_, b) => [`the byte ${b}`, new Uint8Array([0x61, b, 0x62])] as [string, Uint8Array],
    ),
    ["4096 ASCII bytes", new Uint8Array(4096).fill(0x7f)],
    ["4097 ASCII bytes", new Uint8Array(4097).fill(0x00)],
    ["4096 bytes, the last 0x80", Object.assign(new Uint8Array(4096).fill(0x41), { 4095: 0x80 })],
    ["an empty outcome", new Uint8Array(0)],
    ["a view into a larger array", new Uint8Array(new Uint8Array([0xff, 0x41, 0x42, 0xff]).buffer, 1, 2)],
  ];

  for (const [name, open] of CLIENTS) {
    it(`${name}: each outcome is stored and replayed byte for byte`, async () => {
      const { client, close } = await open();
      try {
        const store = createRedisStore({ client, prefix });
        await Promise.all(
          outcomes.map(async ([what, result]) => {
            const key = `bytes:${randomUUID()}`;
            const claim = { token: randomUUID(), fingerprint: "f", leaseMs: 60_000, retentionMs: 60_000 };
            expect((await store.claim(key, claim)).acquired).toBe(true);
            expect(await store.complete(key, claim.token, { result, retentionMs: 60_000 })).toBe(true);
            const record = await store.get(key);
            expect(record?.state === "completed" && Buffer.from(record.result), what).toEqual(
              Buffer.from(result),
            );
            await store.delete(key);
          }),
        );
      } finally {
        await close();
      }
    });
  }

  it("ioredis: an ASCII outcome goes as a string, and as bytes when it is in shared memory", async () => {
    const client = new Redis(url);
    // What each completion (sha, 1, key, token, outcome, retention) passed as its outcome.
    const sent = recordSent(client, ([command]) => {
      const { name, args } = command as { name: string; args: unknown[] };
      if (name !== "evalsha" || args.length !== 6) return "";
      return Buffer.isBuffer(args[4]) ? "bytes" : typeof args[4];
    });
    try {
      const store = createRedisStore({ client, prefix });
      const shared = new Uint8Array(new SharedArrayBuffer(3));
      shared.set([0x61, 0x62, 0x63]);
      for (const result of [new Uint8Array([0x61, 0x62, 0x63]), shared]) {
        const key = `bytes:${randomUUID()}`;
        const claim = { token: randomUUID(), fingerprint: "f", leaseMs: 60_000, retentionMs: 60_000 };
        await store.claim(key, claim);
        expect(await store.complete(key, claim.token, { result, retentionMs: 60_000 })).toBe(true);
        await store.delete(key);
      }
      expect(sent.filter(Boolean)).toEqual(["string", "bytes"]);
    } finally {
      await client.quit();
    }
  });
});
