// A large outcome is appended to the record outside the script, in one MULTI with COMPLETE_APPENDED
// (redis-store.ts): the owner's completion stores it whole, and every other completion leaves the key
// exactly as it was, byte for byte and with its TTL, whatever it holds.
import { randomBytes, randomUUID } from "node:crypto";
import { skipUnlessAvailable } from "@idemkit/conformance";
import { Cluster, Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedisStore, RedisStoreError } from "./index.js";
import {
  CLUSTER_NODES,
  commandName,
  probeCluster,
  probeRedis,
  REDIS_URL,
  recordSent,
} from "./testing/clients.js";
import { type Throwaway, throwawayRedis } from "./testing/throwaway.js";

const skip = skipUnlessAvailable("redis", await probeRedis());
const skipCluster = skipUnlessAvailable("redis-cluster", await probeCluster());
const prefix = "idemkit-appended:";
const LARGE = 64 * 1024;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const claimOf = (leaseMs = 60_000, retentionMs = 60_000) => ({
  token: randomUUID(),
  fingerprint: "f".repeat(64),
  leaseMs,
  retentionMs,
});
// Buffer's own comparison: vitest's deep equality walks 64 KiB element by element (tens of ms each).
const same = (a: Uint8Array | null | false | undefined, b: Uint8Array | null) =>
  Boolean(a) === Boolean(b) && (!a || !b || Buffer.from(a).equals(Buffer.from(b)));
const outcome = (bytes = LARGE) => ({ result: new Uint8Array(randomBytes(bytes)), retentionMs: 60_000 });

/** The ioredis clients that take this path: a standalone one sends MULTI … EXEC itself, a Cluster its own multi(). */
const CLIENTS: [string, string | false | undefined, () => Redis | Cluster][] = [
  ["ioredis", skip, () => new Redis(REDIS_URL)],
  ["ioredis Cluster", skipCluster, () => new Cluster(CLUSTER_NODES)],
];

for (const [name, skipped, open] of CLIENTS) {
  describe.skipIf(Boolean(skipped))(
    `redis store: a large outcome appended outside the script (${name})`,
    () => {
      let client: Redis | Cluster;
      let raw: Redis | Cluster;
      const store = () => createRedisStore({ client, prefix });
      const key = () => `k:${randomUUID()}`;
      /** The key's value and TTL as Redis holds them. */
      const held = async (k: string) => ({
        value: await raw.getBuffer(prefix + k),
        ttl: await raw.pttl(prefix + k),
      });

      beforeAll(() => {
        client = open();
        raw = open();
      });
      afterAll(async () => {
        await Promise.all([client.quit(), raw.quit()]);
      });

      it.skipIf(name !== "ioredis")(
        "goes through one MULTI from 32 KiB on, and through the script alone below",
        async () => {
          const own = new Redis(REDIS_URL);
          const sent = recordSent(own, commandName.ioredis);
          try {
            const ownStore = createRedisStore({ client: own, prefix });
            for (const [bytes, completion] of [
              [32 * 1024 - 1, ["evalsha"]],
              [32 * 1024, ["multi", "eval", "append", "eval", "exec"]],
            ] as const) {
              const k = key();
              const owner = claimOf();
              await ownStore.claim(k, owner);
              const done = outcome(bytes);
              sent.length = 0;
              expect(await ownStore.complete(k, owner.token, done)).toBe(true);
              expect(sent).toEqual(completion);
              const record = await ownStore.get(k);
              expect(same(record?.state === "completed" && record.result, done.result)).toBe(true);
            }
          } finally {
            await own.quit();
          }
        },
      );

      it("the owner's completion stores the outcome, its retention and the key's TTL", async () => {
        const k = key();
        const owner = claimOf();
        const claimed = await store().claim(k, owner);
        const done = outcome();
        const before = Date.now();
        expect(await store().complete(k, owner.token, done)).toBe(true);
        const record = await store().get(k);
        expect(record?.state).toBe("completed");
        if (record?.state !== "completed" || !claimed.acquired) return;
        expect(same(record.result, done.result)).toBe(true);
        expect(record.token).toBe(owner.token);
        expect(record.fingerprint).toBe(owner.fingerprint);
        expect(record.fence).toBe(claimed.fence);
        expect(record.expiresAt).toBeGreaterThanOrEqual(before + 60_000 - 50);
        expect(record.expiresAt).toBeLessThanOrEqual(Date.now() + 60_000 + 50);
        const { ttl } = await held(k);
        // Keep-until is the claim's (lease end + 60 s), later than the retention end.
        expect(ttl).toBeGreaterThan(110_000);
        expect(ttl).toBeLessThanOrEqual(120_000);
      });

      it("a header that changes width (a 15-digit deadline) is written whole, outcome intact", async () => {
        const k = key();
        const owner = claimOf(60_000, 1e14);
        await store().claim(k, owner);
        const done = { ...outcome(), retentionMs: 1e14 };
        expect(await store().complete(k, owner.token, done)).toBe(true);
        const record = await store().get(k);
        expect(same(record?.state === "completed" && record.result, done.result)).toBe(true);
        expect(record?.state === "completed" && record.expiresAt).toBeGreaterThan(1e14);
      });

      const untouched: [string, (k: string) => Promise<string>][] = [
        [
          "a live claim of another owner",
          async (k) => {
            await store().claim(k, claimOf());
            return randomUUID();
          },
        ],
        [
          "another owner's completed outcome",
          async (k) => {
            const other = claimOf();
            await store().claim(k, other);
            await store().complete(k, other.token, outcome());
            return other.token;
          },
        ],
        [
          "its own claim whose lease has ended",
          async (k) => {
            const owner = claimOf(30);
            await store().claim(k, owner);
            await sleep(60);
            return owner.token;
          },
        ],
        [
          "its own claim, released",
          async (k) => {
            const owner = claimOf();
            await store().claim(k, owner);
            await store().release(k, owner.token);
            return owner.token;
          },
        ],
        [
          "a string that is no record of ours, without a TTL",
          async (k) => {
            await raw.set(prefix + k, "not ours");
            return randomUUID();
          },
        ],
        [
          "a string that is no record of ours, with a TTL",
          async (k) => {
            await raw.set(prefix + k, "p01:9:9:9:36:0:", "PX", 60_000);
            return randomUUID();
          },
        ],
        [
          "a record of this token with bytes after it",
          async (k) => {
            const owner = claimOf();
            await store().claim(k, owner);
            await raw.append(prefix + k, "x");
            return owner.token;
          },
        ],
      ];

      for (const [what, prepare] of untouched) {
        it(`a completion that finds ${what} returns false and leaves the key as it was`, async () => {
          const k = key();
          const token = await prepare(k);
          const before = await held(k);
          expect(await store().complete(k, token, outcome())).toBe(false);
          const after = await held(k);
          expect(same(after.value, before.value)).toBe(true);
          if (before.ttl === -1) expect(after.ttl).toBe(-1);
          else expect(Math.abs(after.ttl - before.ttl)).toBeLessThan(100);
          // Still claimable or still held exactly as before: a claim reads the same as it would have.
          await raw.del(prefix + k);
        });
      }

      it("a completion of a key that is gone leaves nothing behind", async () => {
        const k = key();
        expect(await store().complete(k, randomUUID(), outcome())).toBe(false);
        expect(await raw.exists(prefix + k)).toBe(0);
      });

      it("a completion that finds another type returns false and leaves it alone", async () => {
        const k = key();
        await raw.hset(prefix + k, "field", "value");
        expect(await store().complete(k, randomUUID(), outcome())).toBe(false);
        expect(await raw.hgetall(prefix + k)).toEqual({ field: "value" });
        await raw.del(prefix + k);
      });

      it("a completion that finds a list (even one that names this token) leaves it alone", async () => {
        const k = key();
        const token = randomUUID();
        await raw.rpush(prefix + k, `idemkit:parked:${randomUUID()}`, "x", "-1");
        expect(await store().complete(k, token, outcome())).toBe(false);
        expect(await raw.lrange(prefix + k, 0, -1)).toEqual([
          expect.stringMatching(/^idemkit:parked:/),
          "x",
          "-1",
        ]);
        await raw.del(prefix + k);
      });

      it("an empty string at the key is left as it was", async () => {
        const k = key();
        await raw.set(prefix + k, "");
        expect(await store().complete(k, randomUUID(), outcome())).toBe(false);
        expect(await raw.get(prefix + k)).toBe("");
        expect(await raw.pttl(prefix + k)).toBe(-1);
        await raw.del(prefix + k);
      });

      it("after a lost completion the key's next owner gets the next fence", async () => {
        const k = key();
        const first = claimOf(30);
        await store().claim(k, first);
        await sleep(60);
        const second = claimOf();
        const taken = await store().claim(k, second);
        expect(taken).toMatchObject({ acquired: true, fence: 2, takeover: true });
        expect(await store().complete(k, first.token, outcome())).toBe(false);
        const done = outcome();
        expect(await store().complete(k, second.token, done)).toBe(true);
        const record = await store().get(k);
        expect(same(record?.state === "completed" && record.result, done.result)).toBe(true);
      });

      it.skipIf(name !== "ioredis")(
        "rejects with a RedisStoreError when the transaction has no answer within commandTimeoutMs",
        async () => {
          const k = key();
          const owner = claimOf();
          const timed = createRedisStore({ client, prefix, commandTimeoutMs: 100 });
          await timed.claim(k, owner);
          // The client reads no reply: Redis runs the transaction, its answer waits in the paused socket.
          (client as unknown as { stream: { pause(): void; resume(): void } }).stream.pause();
          try {
            const started = Date.now();
            await expect(timed.complete(k, owner.token, outcome())).rejects.toBeInstanceOf(RedisStoreError);
            expect(Date.now() - started).toBeLessThan(1000);
          } finally {
            (client as unknown as { stream: { pause(): void; resume(): void } }).stream.resume();
          }
          // The transaction ran: the outcome is stored, as a script answered too late would have stored it.
          expect((await store().get(k))?.state).toBe("completed");
        },
      );

      it("readers on another connection, racing the completions, see a whole record every time", async () => {
        const reader = createRedisStore({ client: raw, prefix });
        const keys = Array.from({ length: 40 }, () => ({ k: key(), owner: claimOf(), done: outcome() }));
        await Promise.all(keys.map(({ k, owner }) => store().claim(k, owner)));
        const reads: Promise<void>[] = [];
        const completions = keys.map(({ k, owner, done }) => {
          const completed = store().complete(k, owner.token, done);
          for (let i = 0; i < 3; i++) {
            reads.push(
              reader.claim(k, claimOf()).then((result) => {
                expect(result.acquired).toBe(false);
                if (result.acquired) return;
                if (result.record.state === "completed")
                  expect(same(result.record.result, done.result)).toBe(true);
                else expect(result.record.token).toBe(owner.token);
              }),
            );
          }
          return completed;
        });
        expect(await Promise.all(completions)).toEqual(keys.map(() => true));
        await Promise.all(reads);
      });
    },
  );
}

// Redis refuses an APPEND past `proto-max-bulk-len` (1 MB at least): the completion rejects with that
// refusal and the owner's claim stays as it was, never cut or marked complete.
describe.skipIf(Boolean(skip))("redis store: a refused APPEND (a redis-server of our own)", () => {
  let server: Throwaway;
  let client: Redis;
  beforeAll(async () => {
    server = await throwawayRedis(["--proto-max-bulk-len", "1mb"]);
    client = new Redis({ port: server.port, host: "127.0.0.1" });
  });
  afterAll(async () => {
    await client.quit();
    await server.stop();
  });

  it("rejects with Redis's refusal and leaves the owner's claim as it was", async () => {
    const store = createRedisStore({ client });
    const owner = claimOf();
    expect((await store.claim("refused", owner)).acquired).toBe(true);
    const before = await client.getBuffer("refused");
    const done = { result: new Uint8Array(1024 * 1024).fill(0x41), retentionMs: 60_000 };
    await expect(store.complete("refused", owner.token, done)).rejects.toThrow(
      /proto-max-bulk-len|maximum allowed size/,
    );
    expect(same(await client.getBuffer("refused"), before)).toBe(true);
    expect(await store.get("refused")).toMatchObject({ state: "in_progress", token: owner.token });
    // A smaller outcome still completes it.
    expect(await store.complete("refused", owner.token, outcome())).toBe(true);
  });
});
