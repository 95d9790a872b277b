// Claims after a large live record read it with a plain GET beside CLAIM_IF_ABSENT (large-reads.ts):
// every answer is the claim script's, one round trip in one write, on the clients that read the master.
import { randomBytes, randomUUID } from "node:crypto";
import { connect, createServer } from "node:net";
import { runStoreConformance, skipUnlessAvailable } from "@idemkit/conformance";
import type { ClaimResult, IdempotencyStore } from "@idemkit/core";
import { createCluster } from "@redis/client";
import { Cluster, Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Connection, connectionOf, type RedisClient } from "./clients.js";
import { LARGE_RECORD_BYTES, largeReads } from "./large-reads.js";
import { createRedisStore, createRedisStoreReading } from "./redis-store.js";
import { CLAIM, CLAIM_IF_ABSENT, COMPLETE, COMPLETE_ASIDE, type Script } from "./scripts.js";
import {
  commandName,
  probeRedis,
  REDIS_URL,
  recordSent,
  STANDALONE_CLIENTS,
  type TestClient,
} from "./testing/clients.js";
import { type Throwaway, throwawayRedis } from "./testing/throwaway.js";

const prefix = "idemkit-test:reads:";
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const skip = skipUnlessAvailable("redis", await probeRedis());
const claimOf = (token: string = randomUUID(), leaseMs = 60_000, retentionMs = 60_000) => ({
  token,
  fingerprint: "fp",
  leaseMs,
  retentionMs,
});

const CLIENTS = STANDALONE_CLIENTS;

// The whole contract with a read before every claim that follows a live record of any size, on one
// client of each library (the state-by-state check below covers the four).
const closers = new WeakMap<IdempotencyStore, () => Promise<unknown>>();
for (const [name, open] of [CLIENTS[0], CLIENTS[2]] as [string, () => Promise<TestClient>][]) {
  runStoreConformance({
    name: `redis on ${name}, reading first after every live record`,
    skip,
    createStore: async () => {
      const { client, close } = await open();
      const store = createRedisStoreReading({ client, prefix }, 0);
      closers.set(store, close);
      return store;
    },
    teardown: async (store) => {
      await closers.get(store)?.();
    },
  });
}

/** The answer, comparable across two keys and two stores: errors by message, the key's name left out. */
async function answer(store: IdempotencyStore, key: string, claim: ReturnType<typeof claimOf>) {
  try {
    const result: ClaimResult = await store.claim(key, claim);
    return result.acquired ? result : { ...result, record: { ...result.record } };
  } catch (error) {
    return { error: String((error as Error).message).replaceAll(key, "<key>") };
  }
}

describe.skipIf(Boolean(skip))("redis store: a claim that reads first answers as the claim script", () => {
  let raw: Redis;
  const outcome = new Uint8Array(randomBytes(LARGE_RECORD_BYTES));
  beforeAll(() => {
    raw = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    await raw.quit();
  });

  /** A key in each state a claim can meet, made through the store or written raw. */
  const STATES: [string, (store: IdempotencyStore, key: string) => Promise<unknown>][] = [
    ["absent", async () => {}],
    ["completed, large", async (store, key) => complete(store, key, outcome)],
    ["completed, small", async (store, key) => complete(store, key, new Uint8Array([1, 2, 3]))],
    ["in progress", async (store, key) => store.claim(key, claimOf())],
    ["in progress, the caller's own token", async (store, key) => store.claim(key, claimOf("mine"))],
    ["past its lease", async (store, key) => store.claim(key, claimOf(randomUUID(), 1))],
    [
      "released",
      async (store, key) => {
        const claim = claimOf();
        await store.claim(key, claim);
        await store.release(key, claim.token);
      },
    ],
    ["completed, past its retention", async (store, key) => complete(store, key, outcome, 1)],
    ["not a record", async (_, key) => raw.set(prefix + key, "hello")],
    ["an empty string", async (_, key) => raw.set(prefix + key, "")],
    [
      "a header whose lengths do not add up",
      async (_, key) => raw.set(prefix + key, "c0:1:9999999999999:9999999999999:1:2:2:abcd"),
    ],
    ["another type", async (_, key) => raw.rpush(prefix + key, "x")],
    // Only the deadline may be negative in a header the scripts read.
    ...(["u", "c", "tl", "fl"] as const).map(
      (field, i): [string, (store: IdempotencyStore, key: string) => Promise<unknown>] => [
        `a negative ${field}`,
        async (_, key) => {
          const numbers = ["9999999999999", "1", "2", "2"];
          numbers[i] = `-${numbers[i]}`;
          await raw.set(prefix + key, `c01:9999999999999:${numbers.join(":")}:tkfpoutcome`);
        },
      ],
    ),
  ];

  async function complete(store: IdempotencyStore, key: string, result: Uint8Array, retentionMs = 60_000) {
    const claim = claimOf(randomUUID(), 60_000, retentionMs);
    await store.claim(key, claim);
    await store.complete(key, claim.token, { result, retentionMs });
  }

  for (const [name, open] of CLIENTS) {
    it(`${name}: every state, the same answer with and without the read`, async () => {
      const { client, close } = await open();
      const { client: other, close: closeOther } = await open();
      try {
        const reading = createRedisStoreReading({ client, prefix }, LARGE_RECORD_BYTES);
        const scripted = createRedisStoreReading({ client: other, prefix }, Number.POSITIVE_INFINITY);
        const primer = randomUUID();
        await complete(reading, primer, outcome);
        for (const [state, make] of STATES) {
          const [a, b] = [randomUUID(), randomUUID()];
          await make(scripted, a);
          await make(scripted, b);
          await sleep(5); // past the 1 ms leases and retentions
          // A replay of the large primer turns the reads on for the next claim.
          expect((await reading.claim(primer, claimOf())).acquired, state).toBe(false);
          const sent = spySent(client);
          const read = await answer(reading, a, claimOf("mine"));
          const scriptOnly = await answer(scripted, b, claimOf("mine"));
          expect(sent[0], `${state}: the claim read first`).toBe("get");
          expect(normalise(read), state).toEqual(normalise(scriptOnly));
          await raw.del(prefix + a, prefix + b);
        }
        await raw.del(prefix + primer);
      } finally {
        await Promise.all([close(), closeOther()]);
      }
    });
  }
});

/** Fields that differ between two keys made one after the other (times) are left out. */
function normalise(answer: object): unknown {
  if (!("record" in answer)) return answer;
  const { record, ...rest } = answer as { record: Record<string, unknown> };
  const { expiresAt, leaseExpiresAt, token, ...same } = record;
  return { ...rest, record: { ...same, token: token === "mine" ? token : "another", timed: true } };
}

/** The names of the commands `client` sends from now on, in order, whichever library it is. */
const spySent = (client: RedisClient) =>
  recordSent(client as never, (args) =>
    Array.isArray(args[0]) ? commandName.nodeRedis(args) : commandName.ioredis(args),
  );

describe.skipIf(Boolean(skip))("redis store: reads after a large replay, counted", () => {
  it("a replay is a GET of the record, an LRANGE of its outcome kept aside and CLAIM_IF_ABSENT in one write, and so is the new key after it; the next new key is one script", async () => {
    const client = new Redis(REDIS_URL);
    try {
      const store = createRedisStore({ client, prefix });
      const large = randomUUID();
      const claim = claimOf();
      await store.claim(large, claim);
      await store.complete(large, claim.token, {
        result: new Uint8Array(LARGE_RECORD_BYTES),
        retentionMs: 60_000,
      });
      await store.claim(large, claimOf()); // the script's replay turns the reads on
      const sent = spySent(client);
      const socket = (client as unknown as { stream: { _writev: unknown; _write: unknown } }).stream;
      let writes = 0;
      for (const method of ["_write", "_writev"] as const) {
        const original = (socket[method] as (...args: unknown[]) => unknown).bind(socket);
        socket[method] = (...args: unknown[]) => {
          writes++;
          return original(...args);
        };
      }
      const replay = await store.claim(large, claimOf());
      expect(!replay.acquired && replay.record.state === "completed" && replay.record.result.length).toBe(
        LARGE_RECORD_BYTES,
      );
      expect([sent.splice(0), writes]).toEqual([["get", "lrange", "evalsha"], 1]);

      const fresh = randomUUID();
      expect((await store.claim(fresh, claimOf())).acquired).toBe(true);
      expect(sent.splice(0)).toEqual(["get", "lrange", "evalsha"]);
      const next = randomUUID();
      expect((await store.claim(next, claimOf())).acquired).toBe(true);
      expect(sent.splice(0)).toEqual(["evalsha"]);
      await store.delete(large);
      await client.del(prefix + fresh, prefix + next);
    } finally {
      await client.quit();
    }
  });
});

describe("redis store: reads only where the GET reads the scripts' node", () => {
  it("a Cluster of either library offers no read", () => {
    const ioredisCluster = new Cluster([{ host: "127.0.0.1", port: 1 }], { lazyConnect: true });
    const nodeRedisCluster = createCluster({ rootNodes: [{ url: "redis://127.0.0.1:1" }] });
    try {
      expect(connectionOf(ioredisCluster)?.read).toBeUndefined();
      expect(connectionOf(nodeRedisCluster)?.read).toBeUndefined();
      expect(connectionOf(new Redis({ lazyConnect: true }))?.read).toBeTypeOf("function");
    } finally {
      ioredisCluster.disconnect();
    }
  });
});

describe.skipIf(Boolean(skip))("redis store: reads on a server of the test's own", () => {
  let server: Throwaway;
  beforeAll(async () => {
    server = await throwawayRedis();
  }, 20_000);
  afterAll(async () => {
    await server?.stop();
  });

  async function readingStore(commandTimeoutMs = 2000) {
    const client = new Redis({ port: server.port });
    const store = createRedisStoreReading({ client, prefix, commandTimeoutMs }, 0);
    const key = randomUUID();
    const claim = claimOf();
    await store.claim(key, claim);
    await store.complete(key, claim.token, { result: new Uint8Array([7]), retentionMs: 60_000 });
    await store.claim(key, claimOf()); // a live record: the next claim reads first
    return { client, store, key };
  }

  it("the read and the claim script after it share one commandTimeoutMs", async () => {
    // Every reply 200 ms late: the read (200 ms), then the claim script (200 more) would take 400.
    const proxy = createServer((inbound) => {
      const upstream = connect(server.port, "127.0.0.1");
      inbound.on("data", (data) => upstream.write(data));
      upstream.on("data", (data) => setTimeout(() => inbound.destroyed || inbound.write(data), 200));
      const close = () => {
        inbound.destroy();
        upstream.destroy();
      };
      inbound.on("close", close).on("error", close);
      upstream.on("close", close).on("error", close);
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    const client = new Redis({ port: (proxy.address() as { port: number }).port });
    try {
      await client.ping(); // connected and ready: each call below takes one late reply, 200 ms
      const direct = new Redis({ port: server.port });
      for (const script of [CLAIM, COMPLETE, COMPLETE_ASIDE, CLAIM_IF_ABSENT])
        await direct.script("LOAD", script.lua); // no NOSCRIPT
      await direct.quit();
      const store = createRedisStoreReading({ client, prefix, commandTimeoutMs: 300 }, 0);
      const ended = randomUUID();
      await store.claim(ended, claimOf(randomUUID(), 1));
      const live = randomUUID();
      const claim = claimOf();
      await store.claim(live, claim);
      await store.complete(live, claim.token, { result: new Uint8Array([7]), retentionMs: 60_000 });
      await store.claim(live, claimOf()); // a live record: the next claim reads first
      const started = performance.now();
      await expect(store.claim(ended, claimOf())).rejects.toThrow(/no reply from Redis within 300 ms/);
      expect(performance.now() - started).toBeLessThan(390);
    } finally {
      client.disconnect();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  it("CLAIM_IF_ABSENT is sent whole after SCRIPT FLUSH", async () => {
    const { client, store, key } = await readingStore();
    try {
      await client.script("FLUSH");
      const again = await store.claim(key, claimOf());
      expect(
        !again.acquired && Array.from(again.record.state === "completed" ? again.record.result : []),
      ).toEqual([7]);
    } finally {
      await client.quit();
    }
  });

  it("no answer within commandTimeoutMs fails the claim, as the script's would", async () => {
    const { client, store, key } = await readingStore(300);
    const admin = new Redis({ port: server.port });
    try {
      await admin.client("PAUSE", 1500, "ALL");
      await expect(store.claim(key, claimOf())).rejects.toThrow(/no reply from Redis within 300 ms/);
    } finally {
      await sleep(1600);
      await Promise.all([client.quit(), admin.quit()]);
    }
  });
});

// The decisions between the two replies, on a connection that answers as told (a real Redis cannot be
// made to interleave another client's write between two commands sent in one write).
describe("redis store: reads, when the key changed between the GET and the script", () => {
  const NOW = 1_000_000;
  const record = (state: "c" | "p" | "l", deadline: number) =>
    Buffer.from(
      `${state}01:${deadline}:${deadline}:1:4:2:tokefp${{ c: "outcome", l: "7:k:outcome", p: "" }[state]}`,
    );
  const list = (...elements: string[]) => elements.map((element) => Buffer.from(element));

  function readsAnswering(
    value: Buffer | null,
    scriptReply: number | number[],
    reconnects = false,
    outcome: Buffer[] = [],
  ) {
    const sent: string[] = [];
    let closes = 0;
    const connection = {
      read: async (key: string) => (key === "k" ? value : null),
      readList: async (key: string) => (key === "k:outcome" ? outcome : []),
      connections: () => closes,
      together: (send: () => void) => send(),
      isErrorReply: () => false,
    } as unknown as Connection;
    const run = async (_operation: string, script: Script) => {
      sent.push(script === CLAIM_IF_ABSENT ? "claim-if-absent" : "other");
      if (reconnects) closes++; // lost before this reply: ioredis resent the script, maybe elsewhere
      return scriptReply;
    };
    const reads = largeReads({ connection, run, bounded: (_operation, reply) => reply }, 0);
    reads.met(Buffer.alloc(1));
    return { reads, sent };
  }
  const KEYS: [string, string] = ["k", "k:outcome"];
  const byScript = async (): Promise<ClaimResult> => ({ acquired: true, fence: 9, takeover: true });
  const acquired = (reply: unknown): ClaimResult => ({
    acquired: true,
    fence: (reply as number[])[0] ?? 0,
    takeover: false,
  });

  it("read nothing, then the script found the key (created in between): the claim script decides", async () => {
    const { reads } = readsAnswering(null, NOW);
    expect(await reads.claim("k", KEYS, [], byScript, acquired)).toEqual({
      acquired: true,
      fence: 9,
      takeover: true,
    });
  });

  it("read a live record, then the script found no key (deleted in between): the script's acquisition stands", async () => {
    const { reads } = readsAnswering(record("c", NOW + 5), [1, 0]);
    expect(await reads.claim("k", KEYS, [], byScript, acquired)).toEqual({
      acquired: true,
      fence: 1,
      takeover: false,
    });
    expect(reads.active).toBe(false);
  });

  it("read a record whose deadline is the script's time: ended, the claim script decides", async () => {
    const { reads } = readsAnswering(record("c", NOW), NOW);
    expect(await reads.claim("k", KEYS, [], byScript, acquired)).toEqual({
      acquired: true,
      fence: 9,
      takeover: true,
    });
  });

  it("a reconnect between the two replies: the script's clock may be another server's, the claim script decides", async () => {
    const { reads } = readsAnswering(record("c", NOW + 5), NOW, true);
    expect(await reads.claim("k", KEYS, [], byScript, acquired)).toEqual({
      acquired: true,
      fence: 9,
      takeover: true,
    });
  });

  it("read a record live at the script's time: it is the answer", async () => {
    const { reads, sent } = readsAnswering(record("p", NOW + 1), NOW);
    const result = await reads.claim("k", KEYS, [], byScript, acquired);
    expect(!result.acquired && result.record).toMatchObject({
      state: "in_progress",
      token: "toke",
      leaseExpiresAt: NOW + 1,
    });
    expect(sent).toEqual(["claim-if-absent"]);
  });

  it("read a record kept aside and its outcome, live at the script's time: it is the answer", async () => {
    const { reads } = readsAnswering(record("l", NOW + 1), NOW, false, list("otoke", "out", "come"));
    const result = await reads.claim("k", KEYS, [], byScript, acquired);
    expect(!result.acquired && result.record).toMatchObject({ state: "completed", token: "toke" });
    expect(
      !result.acquired &&
        Buffer.from(result.record.state === "completed" ? result.record.result : []).toString(),
    ).toBe("outcome");
    expect(reads.active).toBe(true);
  });

  for (const [why, outcome] of [
    [
      "another owner's outcome (the key was deleted and completed again in between)",
      list("oTOKE", "outcome"),
    ],
    ["no outcome (deleted in between)", list()],
    ["an outcome of another length", list("otoke", "outcome!")],
  ] as const) {
    it(`read a record kept aside and ${why}: the claim script decides`, async () => {
      const { reads } = readsAnswering(record("l", NOW + 1), NOW, false, outcome);
      expect(await reads.claim("k", KEYS, [], byScript, acquired)).toEqual({
        acquired: true,
        fence: 9,
        takeover: true,
      });
    });
  }
});
