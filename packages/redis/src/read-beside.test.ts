// Once a claim has found a large record, the store's next claims judge the header in the script and
// read the record beside it (CLAIM_HEAD, then GET, in one MULTI: redis-store.ts), on a standalone
// ioredis client: each claim still answers exactly as the plain claim script would.
import { randomBytes, randomUUID } from "node:crypto";
import { skipUnlessAvailable } from "@idemkit/conformance";
import type { ClaimResult } from "@idemkit/core";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedisStore, type RedisStore, RedisStoreError } from "./index.js";
import { CLAIM, CLAIM_HEAD } from "./scripts.js";
import { commandName, probeRedis, REDIS_URL, recordSent } from "./testing/clients.js";

const skip = skipUnlessAvailable("redis", await probeRedis());
const prefix = "idemkit-beside:";
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const claimOf = (leaseMs = 60_000) => ({
  token: randomUUID(),
  fingerprint: "f",
  leaseMs,
  retentionMs: 60_000,
});
const bytes = (n: number) => new Uint8Array(randomBytes(n));
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));
/** Whether a claim found the key completed with exactly `outcome`. */
const replays = (result: ClaimResult, outcome: Uint8Array) =>
  !result.acquired && result.record.state === "completed" && same(result.record.result, outcome);
const BESIDE = ["multi", "evalsha", "get", "exec"];

describe.skipIf(Boolean(skip))("redis store: claims that read a large record beside the script", () => {
  let client: Redis;
  let raw: Redis;
  let sent: string[];
  let store: RedisStore;
  const key = () => `k:${randomUUID()}`;

  /** A key completed with `size` bytes of outcome, and the outcome. */
  async function completed(size: number) {
    const k = key();
    const owner = claimOf();
    await store.claim(k, owner);
    const result = bytes(size);
    expect(await store.complete(k, owner.token, { result, retentionMs: 60_000 })).toBe(true);
    return { k, result };
  }

  /** Claims `k` and returns the commands the claim sent and its result. */
  async function claim(k: string, owner = claimOf()) {
    sent.length = 0;
    const result = await store.claim(k, owner);
    return { commands: [...sent], result };
  }

  beforeAll(async () => {
    client = new Redis(REDIS_URL);
    raw = new Redis(REDIS_URL);
    sent = recordSent(client, commandName.ioredis);
    store = createRedisStore({ client, prefix });
    // Cached, as a running store's scripts are: the commands counted here are those of a warm store.
    await Promise.all([CLAIM, CLAIM_HEAD].map(({ lua }) => raw.script("LOAD", lua)));
  });
  afterAll(async () => {
    await Promise.all([client.quit(), raw.quit()]);
  });

  it("switches on after a large record, replays it exactly, and off after a small one", async () => {
    const large = await completed(64 * 1024);
    const small = await completed(10);
    expect((await claim(large.k)).commands).toEqual(["evalsha"]);
    const beside = await claim(large.k);
    expect(beside.commands).toEqual(BESIDE);
    expect(replays(beside.result, large.result)).toBe(true);
    const back = await claim(small.k);
    expect(back.commands).toEqual(BESIDE);
    expect(replays(back.result, small.result)).toBe(true);
    expect((await claim(small.k)).commands).toEqual(["evalsha"]);
  });

  describe("while switched on, each claim answers as the plain script does", () => {
    beforeAll(async () => {
      const large = await completed(64 * 1024);
      await claim(large.k);
    });

    it("a new key is acquired with fence 1, and its live claim comes back to a second caller", async () => {
      const k = key();
      const owner = claimOf();
      const first = await claim(k, owner);
      expect(first.commands).toEqual(BESIDE);
      expect(first.result).toEqual({ acquired: true, fence: 1, takeover: false });
      const second = await store.claim(k, claimOf());
      expect(second).toMatchObject({
        acquired: false,
        record: { state: "in_progress", token: owner.token, fence: 1 },
      });
      // A small record found switched it off: back on for the next case.
      await claim((await completed(64 * 1024)).k);
    });

    it("an ended lease is taken over with the next fence", async () => {
      await claim((await completed(64 * 1024)).k);
      const k = key();
      await store.claim(k, claimOf(30));
      await claim((await completed(64 * 1024)).k);
      await sleep(60);
      const taken = await claim(k);
      expect(taken.commands).toEqual(BESIDE);
      expect(taken.result).toEqual({ acquired: true, fence: 2, takeover: true });
    });

    it("an empty string, a hash and a value that is no record are refused, and left as they were", async () => {
      for (const [what, put, read] of [
        ["an empty string", (k: string) => raw.set(prefix + k, ""), (k: string) => raw.get(prefix + k)],
        ["a hash", (k: string) => raw.hset(prefix + k, "f", "v"), (k: string) => raw.hgetall(prefix + k)],
        ["text", (k: string) => raw.set(prefix + k, "hello"), (k: string) => raw.get(prefix + k)],
      ] as const) {
        await claim((await completed(64 * 1024)).k);
        const k = key();
        await put(k);
        const before = await read(k);
        sent.length = 0;
        await expect(store.claim(k, claimOf()), what).rejects.toBeInstanceOf(RedisStoreError);
        expect(sent, what).toEqual(BESIDE);
        expect(await read(k), what).toEqual(before);
        await raw.del(prefix + k);
      }
    });

    it("after SCRIPT FLUSH the claim is sent again whole, beside its GET", async () => {
      const large = await completed(64 * 1024);
      await claim(large.k);
      await raw.script("FLUSH");
      const again = await claim(large.k);
      expect(again.commands).toEqual([...BESIDE, "multi", "eval", "get", "exec"]);
      expect(replays(again.result, large.result)).toBe(true);
    });
  });

  it("claims racing large completions on another connection always see a whole record", async () => {
    const other = createRedisStore({ client: raw, prefix });
    await claim((await completed(64 * 1024)).k);
    const keys = Array.from({ length: 40 }, () => ({ k: key(), owner: claimOf(), result: bytes(64 * 1024) }));
    await Promise.all(keys.map(({ k, owner }) => other.claim(k, owner)));
    const claims: Promise<void>[] = [];
    const completions = keys.map(({ k, owner, result }) => {
      const done = other.complete(k, owner.token, { result, retentionMs: 60_000 });
      for (let i = 0; i < 3; i++) {
        claims.push(
          store.claim(k, claimOf()).then((found) => {
            expect(found.acquired).toBe(false);
            if (found.acquired) return;
            if (found.record.state === "completed") expect(same(found.record.result, result)).toBe(true);
            else expect(found.record.token).toBe(owner.token);
          }),
        );
      }
      return done;
    });
    expect(await Promise.all(completions)).toEqual(keys.map(() => true));
    await Promise.all(claims);
  });
});
