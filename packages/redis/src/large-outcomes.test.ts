// A large outcome is kept aside, written in one RPUSH (scripts.ts, COMPLETE_ASIDE): its bytes and TTL come
// back, it takes about its size in memory (a SET then an APPEND keeps room for as much again), a replica
// holds the same; one whose value aside would be longer than the least `proto-max-bulk-len` goes inline,
// and is stored whole on a server at that least.
import { randomBytes, randomUUID } from "node:crypto";
import { skipUnlessAvailable } from "@idemkit/conformance";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedisStore } from "./index.js";
import { MAX_ASIDE_VALUE_BYTES } from "./outcome-argument.js";
import { outcomeKeyOf } from "./outcome-key.js";
import { nodeRedis, probeRedis, REDIS_URL, standalone, type TestClient } from "./testing/clients.js";
import { type Throwaway, throwawayRedis } from "./testing/throwaway.js";

const prefix = "idemkit-test:large:";
const LEASE_MS = 60_000;
const RETENTION_MS = 60_000;
/** A completed record is kept its retention past its lease end (scripts.ts, keep-until). */
const KEPT_MS = LEASE_MS + RETENTION_MS;
const skip = skipUnlessAvailable("redis", await probeRedis());
const claimOf = () => ({
  token: randomUUID(),
  fingerprint: "f",
  leaseMs: LEASE_MS,
  retentionMs: RETENTION_MS,
});

/** Claims a fresh key on `store`, completes it with `result`, and returns the key. */
async function completed(store: ReturnType<typeof createRedisStore>, result: Uint8Array): Promise<string> {
  const key = randomUUID();
  const claim = claimOf();
  expect((await store.claim(key, claim)).acquired).toBe(true);
  expect(await store.complete(key, claim.token, { result, retentionMs: RETENTION_MS })).toBe(true);
  return key;
}

/**
 * Completes `times` outcomes of each size in `cases` through a new `name` client of the server at
 * `port`: each is stored whole, aside ("l") or inline ("c") as its case says, and the client never
 * lost its connection (Redis closes it on an argument it will not take).
 */
async function storedWhole(
  name: "ioredis" | "node-redis",
  port: number,
  cases: (readonly [bytes: number, kept: "l" | "c"])[],
  times: number,
): Promise<void> {
  const client =
    name === "ioredis"
      ? new Redis({ port }).on("error", () => {})
      : await nodeRedis({ url: `redis://127.0.0.1:${port}` });
  const raw = new Redis({ port });
  try {
    const store = createRedisStore({ client });
    const connections = async () => /total_connections_received:([0-9]+)/.exec(await raw.info("stats"))?.[1];
    // ioredis connects in the background: its connection, accepted after the first count, would read as
    // one made again.
    if (client instanceof Redis) await client.ping();
    const before = await connections();
    for (const [bytes, kept] of cases) {
      for (let i = 0; i < times; i++) {
        const result = new Uint8Array(randomBytes(bytes));
        const key = await completed(store, result);
        const record = await store.get(key);
        expect(record?.state === "completed" && Buffer.from(record.result).equals(result), `${bytes}`).toBe(
          true,
        );
        expect(await raw.getrange(key, 0, 0), `${bytes}`).toBe(kept);
      }
    }
    expect(await connections(), "no connection was closed and made again").toBe(before);
  } finally {
    await Promise.all([client.quit(), raw.quit()]);
  }
}

const CLIENTS: [string, () => Promise<TestClient>][] = [
  ["ioredis", () => standalone.ioredis()],
  ["node-redis", () => standalone.nodeRedis()],
];

describe.skipIf(Boolean(skip))("redis store: large outcomes", () => {
  for (const [name, open] of CLIENTS) {
    it(`${name}: the outcome comes back byte for byte, and its record keeps its retention and takes about its size in memory`, async () => {
      const { client, close } = await open();
      const admin = new Redis(REDIS_URL);
      try {
        const store = createRedisStore({ client, prefix });
        for (const size of [8 * 1024, 64 * 1024, 1024 * 1024 - 2048]) {
          const result = new Uint8Array(randomBytes(size));
          const key = await completed(store, result);
          const record = await store.get(key);
          expect(record?.state === "completed" && Buffer.from(record.result).equals(result), `${size}`).toBe(
            true,
          );
          const kept = [`${prefix}${key}`, outcomeKeyOf(Buffer.alloc(0), `${prefix}${key}`) as Buffer];
          for (const [i, k] of kept.entries()) {
            // The record's and its outcome's (a moved key keeps its TTL from before; none reads -1).
            const ttl = await admin.pttl(k);
            expect(ttl, `${size}`).toBeGreaterThan(KEPT_MS - 5_000);
            // The claim's lease starts at Redis's time rounded up to the ms (scripts.ts, `up`): a
            // completion in the claim's own millisecond reads up to 1 ms more; the outcome 1 ms more again.
            expect(ttl, `${size}`).toBeLessThanOrEqual(KEPT_MS + 1 + i);
          }
          // A list of pieces sized for Redis's list nodes (outcome-argument.ts), and a short record.
          // SET then APPEND measured 2.0–2.5×: APPEND keeps room to grow as much again.
          const bytes = await Promise.all(kept.map(async (k) => Number(await admin.memory("USAGE", k))));
          expect((bytes[0] as number) + (bytes[1] as number), `${size}`).toBeLessThan(1.5 * size);
          await store.delete(key);
        }
      } finally {
        await Promise.all([close(), admin.quit()]);
      }
    });
  }
});

describe.skipIf(Boolean(skip))("redis store: large outcomes on a server of the test's own", () => {
  let master: Throwaway;
  let replica: Throwaway;
  let tight: Throwaway;
  beforeAll(async () => {
    // 1 MiB is the least proto-max-bulk-len Redis accepts: an outcome of that size can be sent, but
    // its record (header, token and fingerprint in front) is longer than APPEND allows.
    master = await throwawayRedis(["--proto-max-bulk-len", "1mb", "--repl-diskless-sync-delay", "0"]);
    replica = await throwawayRedis(["--replicaof", "127.0.0.1", String(master.port)]);
    // And the least client-query-buffer-limit (1 MiB), which counts an argument's closing CRLF too.
    tight = await throwawayRedis(["--proto-max-bulk-len", "1mb", "--client-query-buffer-limit", "1mb"]);
  }, 20_000);
  afterAll(async () => {
    await tight?.stop();
    await replica?.stop();
    await master?.stop();
  });

  // Kept aside, an outcome travels after a mark and the token: past 1 MiB less 1 KiB its command would
  // not fit the least query buffer Redis takes (`tight`), and Redis would close the connection, leaving
  // the completion sent with it unanswered (ioredis resends both, into the same refusal). It goes inline:
  // its argument is the outcome alone, within the least `proto-max-bulk-len` (`master`). Several times
  // over: whether a client got past that refusal depended on when it saw it.
  const TOKEN_BYTES = 36; // a UUID's, as claimOf makes
  const MIB = 1024 * 1024;
  for (const name of ["ioredis", "node-redis"] as const) {
    it(`${name}: an outcome of 1 MiB, its value aside past proto-max-bulk-len, is stored whole and inline`, () =>
      storedWhole(name, master.port, [[MIB, "c"]], 5));

    it(`${name}: on the least query buffer, an outcome is kept aside up to a value of 1 MiB - 1 KiB, inline past it, and stored whole`, () =>
      storedWhole(
        name,
        tight.port,
        [
          [MAX_ASIDE_VALUE_BYTES - 1 - TOKEN_BYTES, "l"],
          [MIB - 2 - TOKEN_BYTES, "c"], // a value aside of 1 MiB - 1 byte
          [MIB - 1 - TOKEN_BYTES, "c"], // of 1 MiB
        ],
        3,
      ));
  }

  it("a replica holds the same record as its master, TTL included", async () => {
    const onMaster = new Redis({ port: master.port });
    const onReplica = new Redis({ port: replica.port });
    try {
      const store = createRedisStore({ client: onMaster });
      const key = await completed(store, new Uint8Array(randomBytes(64 * 1024)));
      expect(await onMaster.wait(1, 10_000)).toBe(1);
      for (const k of [Buffer.from(key), outcomeKeyOf(Buffer.alloc(0), key) as Buffer]) {
        // The record a string, its outcome a list: compared in Redis's own serialization.
        const [value, copy] = await Promise.all([onMaster.dumpBuffer(k), onReplica.dumpBuffer(k)]);
        expect(copy?.equals(value!)).toBe(true);
        expect(await onReplica.pttl(k)).toBeGreaterThan(KEPT_MS - 5_000);
      }
    } finally {
      await Promise.all([onMaster.quit(), onReplica.quit()]);
    }
  });
});
