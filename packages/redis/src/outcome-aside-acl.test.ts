// Large outcomes kept aside (scripts.ts, COMPLETE_ASIDE) on a Redis whose ACL refuses a command they use:
// the outcome is stored inline, or the old outcome left to expire, never a record without its outcome.
import { randomBytes, randomUUID } from "node:crypto";
import { skipUnlessAvailable } from "@idemkit/conformance";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { createRedisStore } from "./index.js";
import { LARGE_RECORD_BYTES } from "./large-reads.js";
import { probeRedis, REDIS_URL } from "./testing/clients.js";

const skip = skipUnlessAvailable("redis", await probeRedis());
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const claimOf = (token: string) => ({ token, fingerprint: "fp", leaseMs: 60_000, retentionMs: 60_000 });
const large = () => new Uint8Array(randomBytes(LARGE_RECORD_BYTES + 1));
const resultOf = (record: unknown) =>
  Buffer.from((record as { state: string; result?: Uint8Array }).result ?? []);

describe.skipIf(Boolean(skip))("redis store: outcomes kept aside where a command is refused", () => {
  /**
   * Runs `test` with a store on a client whose ACL user may not run `denied`, and `admin`, a client that
   * may; the user and every key under the store's prefix are removed after.
   */
  async function refusing(
    denied: string | string[],
    test: (store: ReturnType<typeof createRedisStore>, admin: Redis, prefix: string) => Promise<void>,
  ) {
    const admin = new Redis(REDIS_URL);
    const user = `idemkit-test-${randomUUID()}`;
    const refused = (Array.isArray(denied) ? denied : [denied]).map((command) => `-${command}`);
    await admin.call("ACL", "SETUSER", user, "on", ">secret", "~*", "+@all", ...refused);
    const client = new Redis(REDIS_URL, { username: user, password: "secret" });
    const prefix = `idemkit-aside-acl:${randomUUID()}:`;
    try {
      await test(createRedisStore({ client, prefix }), admin, prefix);
    } finally {
      const keys = await admin.keysBuffer(`${prefix}*`);
      if (keys.length > 0) await admin.del(...keys);
      await client.quit();
      await admin.call("ACL", "DELUSER", user);
      await admin.quit();
    }
  }

  // RPUSH or RPUSHX refused: nothing pending, or only its start; PEXPIRE: no pending list is started, so
  // the pieces land nowhere (with DEL refused too, nothing is left without a TTL); LLEN or LRANGE: the
  // outcome could not be checked or read back (replays would fail); RENAME: not moved.
  for (const denied of [
    ["rpush"],
    ["rpushx"],
    ["llen"],
    ["lrange"],
    ["rename"],
    ["pexpire"],
    ["pexpire", "del"],
    ["pexpire", "llen", "del"],
  ]) {
    it(`an ACL without ${denied.join(", ").toUpperCase()}: the outcome is stored inline, and no key is left beside the record`, () =>
      refusing(denied, async (store, admin, prefix) => {
        const result = large();
        const sent = Buffer.from(result);
        expect((await store.claim("k", claimOf("owner"))).acquired).toBe(true);
        const completed = store.complete("k", "owner", { result, retentionMs: 60_000 });
        result.fill(0); // the caller's buffer, reused once the call is made: the outcome is what it held then
        expect(await completed).toBe(true);
        expect(await admin.getrange(`${prefix}k`, 0, 0)).toBe("c");
        expect((await admin.keysBuffer(`${prefix}*`)).map(String)).toEqual([`${prefix}k`]);
        expect(resultOf(await store.get("k")).equals(sent)).toBe(true);
        const replay = await store.claim("k", claimOf("again"));
        expect(!replay.acquired && resultOf(replay.record).equals(sent)).toBe(true);
      }));
  }

  it("an ACL without DEL: a claim over an ended record kept aside still acquires it", () =>
    refusing("del", async (store, admin, prefix) => {
      expect((await store.claim("k", claimOf("first"))).acquired).toBe(true);
      expect(await store.complete("k", "first", { result: large(), retentionMs: 1 })).toBe(true);
      expect(await admin.getrange(`${prefix}k`, 0, 0)).toBe("l");
      await sleep(5);
      expect(await store.claim("k", claimOf("second"))).toMatchObject({ acquired: true, fence: 2 });
      const result = large();
      expect(await store.complete("k", "second", { result, retentionMs: 60_000 })).toBe(true);
      expect(resultOf(await store.get("k")).equals(result)).toBe(true);
    }));
});
