// Large outcomes kept aside (scripts.ts, COMPLETE_ASIDE): written by a plain RPUSHX to a pending list, moved
// to the outcome key by the owner only, read back with the record, gone with it; a lost or foreign
// outcome fails its key loudly, never reads as another's.
import { randomBytes, randomUUID } from "node:crypto";
import { skipUnlessAvailable } from "@idemkit/conformance";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedisStore, RedisStoreError } from "./index.js";
import { LARGE_RECORD_BYTES } from "./large-reads.js";
import { outcomeKeyOf } from "./outcome-key.js";
import { createRedisStoreReading } from "./redis-store.js";
import { probeRedis, REDIS_URL, STANDALONE_CLIENTS } from "./testing/clients.js";

const skip = skipUnlessAvailable("redis", await probeRedis());
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const claimOf = (token: string = randomUUID(), leaseMs = 60_000) => ({
  token,
  fingerprint: "fp",
  leaseMs,
  retentionMs: 60_000,
});
const large = () => new Uint8Array(randomBytes(LARGE_RECORD_BYTES + 1));
const resultOf = (record: unknown) =>
  Buffer.from((record as { state: string; result?: Uint8Array }).result ?? []);

for (const [name, open] of STANDALONE_CLIENTS) {
  describe.skipIf(Boolean(skip))(`redis store on ${name}: outcomes kept aside`, () => {
    const prefix = `idemkit-aside:${randomUUID()}:`;
    let raw: Redis;
    let close: () => Promise<unknown>;
    let store: ReturnType<typeof createRedisStore>;
    beforeAll(async () => {
      raw = new Redis(REDIS_URL);
      const opened = await open();
      close = opened.close;
      store = createRedisStore({ client: opened.client, prefix });
    });
    afterAll(async () => {
      const keys = await raw.keysBuffer(`${prefix}*`);
      if (keys.length > 0) await raw.del(...keys);
      await Promise.all([raw.quit(), close()]);
    });
    const outcomeKey = (key: string) => outcomeKeyOf(Buffer.alloc(0), prefix + key) as Buffer;
    /** Every key under the prefix but the records themselves (outcomes and pending outcomes), in hex. */
    const beside = async (...records: string[]) => {
      const named = records.map((r) => Buffer.from(prefix + r).toString("hex"));
      const found = (await raw.keysBuffer(`${prefix}*`)).map((k) => k.toString("hex"));
      return found.filter((k) => !named.includes(k)).sort();
    };

    async function completed(key: string, result: Uint8Array, token: string = randomUUID()) {
      expect((await store.claim(key, claimOf(token))).acquired).toBe(true);
      expect(await store.complete(key, token, { result, retentionMs: 60_000 })).toBe(true);
    }

    it("a large outcome is kept in the outcome key, with the record's TTL, and replays byte for byte", async () => {
      const key = randomUUID();
      const result = large();
      await completed(key, result, "owner");
      expect((await raw.getBuffer(prefix + key))?.subarray(0, 1).toString()).toBe("l");
      expect(await beside(key)).toEqual([outcomeKey(key).toString("hex")]);
      // In one transaction: read one at a time, a loaded machine let milliseconds pass between the two.
      const ttls = await raw
        .multi()
        .pttl(prefix + key)
        .pttl(outcomeKey(key))
        .exec();
      const [recordTtl, outcomeTtl] = (ttls ?? []).map(([, ttl]) => ttl as number) as [number, number];
      expect(outcomeTtl).toBeGreaterThanOrEqual(recordTtl - 5);
      expect(outcomeTtl).toBeLessThanOrEqual(recordTtl + 5);
      const replay = await store.claim(key, claimOf());
      expect(!replay.acquired && resultOf(replay.record).equals(result)).toBe(true);
      expect(resultOf(await store.get(key)).equals(result)).toBe(true);
      expect(await store.delete(key)).toBe(true);
      expect(await beside()).toEqual([]);
    });

    it("a stale owner's large completion loses to the new owner's and leaves no key behind", async () => {
      const key = randomUUID();
      expect((await store.claim(key, claimOf("stale", 1))).acquired).toBe(true);
      await sleep(5);
      expect(await store.claim(key, claimOf("new"))).toMatchObject({ acquired: true, takeover: true });
      const [stale, fresh] = [large(), large()];
      const [lost, won] = await Promise.all([
        store.complete(key, "stale", { result: stale, retentionMs: 60_000 }),
        store.complete(key, "new", { result: fresh, retentionMs: 60_000 }),
      ]);
      expect([lost, won]).toEqual([false, true]);
      expect(await store.complete(key, "stale", { result: stale, retentionMs: 60_000 })).toBe(false);
      expect(resultOf(await store.get(key)).equals(fresh)).toBe(true);
      expect(await beside(key)).toEqual([outcomeKey(key).toString("hex")]);
      await store.delete(key);
    });

    it("a claim after the record ended deletes its outcome; a small outcome then is inline", async () => {
      const key = randomUUID();
      expect((await store.claim(key, { ...claimOf("first"), retentionMs: 1 })).acquired).toBe(true);
      expect(await store.complete(key, "first", { result: large(), retentionMs: 1 })).toBe(true);
      await sleep(5);
      expect((await store.claim(key, claimOf("second"))).acquired).toBe(true);
      expect(await beside(key)).toEqual([]);
      expect(await store.complete(key, "second", { result: new Uint8Array([1]), retentionMs: 60_000 })).toBe(
        true,
      );
      expect([...resultOf(await store.get(key))]).toEqual([1]);
      await store.delete(key);
    });

    it("a pending outcome that is gone when the completion runs: the outcome is stored inline instead", async () => {
      const key = randomUUID();
      expect((await store.claim(key, claimOf("owner"))).acquired).toBe(true);
      // The pending outcome's RPUSHX is sent to another key, as a write lost before the script ran would be.
      const { client, close: closeHooked } = await open();
      const target = client as unknown as { sendCommand(...args: unknown[]): unknown };
      const send = target.sendCommand.bind(target);
      target.sendCommand = (...args: unknown[]) => {
        const command = args[0] as { name?: string; args?: unknown[] } | unknown[];
        if (Array.isArray(command) && command[0] === "RPUSHX") command[1] = `${prefix}elsewhere`;
        else if (!Array.isArray(command) && command.name === "rpushx")
          (command.args as unknown[])[0] = `${prefix}elsewhere`;
        return send(...args);
      };
      try {
        const result = large();
        const hooked = createRedisStore({ client, prefix });
        expect(await hooked.complete(key, "owner", { result, retentionMs: 60_000 })).toBe(true);
        expect((await raw.getBuffer(prefix + key))?.subarray(0, 1).toString()).toBe("c");
        expect(resultOf(await store.get(key)).equals(result)).toBe(true);
        expect(await raw.exists(outcomeKey(key))).toBe(0);
        await raw.del(`${prefix}elsewhere`);
        await store.delete(key);
      } finally {
        await closeHooked();
      }
    });

    it("a pending list left by an earlier attempt (as ioredis resends what a lost connection left unanswered) is replaced: the outcome is kept aside whole", async () => {
      const key = randomUUID();
      expect((await store.claim(key, claimOf("owner"))).acquired).toBe(true);
      await raw.rpush(Buffer.concat([outcomeKey(key), Buffer.from(":owner")]), "o", "earlier");
      const result = large();
      expect(await store.complete(key, "owner", { result, retentionMs: 60_000 })).toBe(true);
      expect((await raw.getBuffer(prefix + key))?.subarray(0, 1).toString()).toBe("l");
      expect(resultOf(await store.get(key)).equals(result)).toBe(true);
      expect(await beside(key)).toEqual([outcomeKey(key).toString("hex")]);
      await store.delete(key);
    });

    for (const [what, spoil, why] of [
      ["deleted by hand (or evicted)", (key: Buffer) => raw.del(key), /kept aside, is missing/],
      [
        "overwritten with another owner's",
        (key: Buffer) => raw.del(key).then(() => raw.rpush(key, `o${"x".repeat(36)}`, "piece")),
        /is not its own/,
      ],
      ["made another type", (key: Buffer) => raw.set(key, "o"), /is missing/],
      ["cut short by a piece", (key: Buffer) => raw.rpop(key), /is not its own/],
      ["given a piece more", (key: Buffer) => raw.rpush(key, "x"), /is not its own/],
    ] as const) {
      it(`an outcome ${what}: claim and get fail naming the key, delete clears it`, async () => {
        const key = randomUUID();
        await completed(key, large());
        await spoil(outcomeKey(key));
        for (const call of [store.claim(key, claimOf()), store.get(key)]) {
          const error = await call.then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(error).toBeInstanceOf(RedisStoreError);
          expect(String((error as Error).message)).toMatch(why);
          expect(String((error as Error).message)).toContain(key);
        }
        expect(await store.delete(key)).toBe(true);
        expect((await store.claim(key, claimOf())).acquired).toBe(true);
        await store.delete(key);
      });
    }

    it("list shows a record kept aside as completed, never its outcome key, even an outcome that reads as a record", async () => {
      const key = randomUUID();
      const far = Date.now() + 86_400_000;
      const lookalike = Buffer.from(`c01:${far}:${far}:1:2:2:ttfp${"x".repeat(LARGE_RECORD_BYTES)}`);
      await completed(key, lookalike);
      const listed = await store.list({ limit: 100 });
      expect(listed.records.map((r) => [r.key, r.state])).toEqual([[key, "completed"]]);
      expect((await store.list({ state: "completed" })).records.map((r) => r.key)).toEqual([key]);
      expect(resultOf(await store.get(key)).equals(lookalike)).toBe(true);
      await store.delete(key);
    });

    it("a store that keeps every outcome inline reads records kept aside, and the other way round", async () => {
      const { client: other, close: closeOther } = await open();
      try {
        const inline = createRedisStoreReading({ client: other, prefix }, Number.POSITIVE_INFINITY);
        const [a, b] = [randomUUID(), randomUUID()];
        const [ra, rb] = [large(), large()];
        await completed(a, ra);
        expect((await inline.claim(b, claimOf("t"))).acquired).toBe(true);
        expect(await inline.complete(b, "t", { result: rb, retentionMs: 60_000 })).toBe(true);
        const [fromInline, fromAside] = await Promise.all([
          inline.claim(a, claimOf()),
          store.claim(b, claimOf()),
        ]);
        expect(!fromInline.acquired && resultOf(fromInline.record).equals(ra)).toBe(true);
        expect(!fromAside.acquired && resultOf(fromAside.record).equals(rb)).toBe(true);
        await Promise.all([store.delete(a), store.delete(b)]);
      } finally {
        await closeOther();
      }
    });

    it("no key the store is given is another key's outcome key: each is a record of its own, and both keep theirs", async () => {
      const key = randomUUID();
      const [result, other] = [large(), large()];
      await completed(key, result);
      const name = outcomeKey(key).subarray(prefix.length);
      // The outcome key's name as text (0xFF read as latin1, then sent as UTF-8), and with another byte.
      for (const lookalike of [name.toString("latin1"), name.toString("latin1").replace("\xff", "\u0001")]) {
        await completed(lookalike, other);
        expect(resultOf(await store.get(lookalike)).equals(other)).toBe(true);
        expect(resultOf(await store.get(key)).equals(result)).toBe(true);
        expect(await store.delete(lookalike)).toBe(true);
        expect(resultOf(await store.get(key)).equals(result)).toBe(true);
      }
      await store.delete(key);
    });

    it("an outcome of another view type is stored as its bytes, not its elements", async () => {
      const key = randomUUID();
      const words = new Uint16Array(LARGE_RECORD_BYTES);
      for (let i = 0; i < words.length; i++) words[i] = i * 7919;
      const token = randomUUID();
      expect((await store.claim(key, claimOf(token))).acquired).toBe(true);
      const view = words as unknown as Uint8Array;
      expect(await store.complete(key, token, { result: view, retentionMs: 60_000 })).toBe(true);
      expect(resultOf(await store.get(key)).equals(Buffer.from(words.buffer))).toBe(true);
      await store.delete(key);
    });

    it("a completion given a bad outcome rejects, never throws", async () => {
      const key = randomUUID();
      expect((await store.claim(key, claimOf("owner"))).acquired).toBe(true);
      const detached = new Uint8Array(new ArrayBuffer(LARGE_RECORD_BYTES));
      structuredClone(detached.buffer, { transfer: [detached.buffer] });
      for (const result of [detached, {} as Uint8Array, null as unknown as Uint8Array]) {
        let outcome: Promise<boolean> | undefined;
        expect(() => {
          outcome = store.complete(key, "owner", { result, retentionMs: 60_000 });
        }).not.toThrow();
        await expect(outcome).rejects.toBeInstanceOf(Error);
      }
      await store.delete(key);
    });
  });
}
