import { randomBytes, randomUUID } from "node:crypto";
import { runStoreConformance, skipUnlessAvailable } from "@idemkit/conformance";
import type { IdempotencyStore } from "@idemkit/core";
import { Cluster } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RedisClient } from "./clients.js";
import { createRedisStore, type RedisStore } from "./index.js";
import { LARGE_RECORD_BYTES } from "./large-reads.js";
import { outcomeKeyOf } from "./outcome-key.js";
import {
  commandName,
  nodeRedisCluster,
  CLUSTER_NODES as nodes,
  probeCluster,
  recordSent,
} from "./testing/clients.js";

const skip = skipUnlessAvailable("redis-cluster", await probeCluster());
const prefix = "idemkit-test:";
const utf8 = (text: string) => new TextEncoder().encode(text);

/** A Cluster client of each library for the store, and how to close it. */
const CLIENTS: [string, () => Promise<{ client: RedisClient; close(): Promise<unknown> }>][] = [
  [
    "ioredis",
    async () => {
      const client = new Cluster(nodes);
      return { client, close: () => client.quit() };
    },
  ],
  [
    "node-redis",
    async () => {
      const client = await nodeRedisCluster();
      return { client, close: () => client.close() };
    },
  ],
];

for (const [name, open] of CLIENTS) {
  const closers = new WeakMap<IdempotencyStore, () => Promise<unknown>>();
  runStoreConformance({
    name: `redis-cluster on ${name}`,
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

  // `admin` (ioredis) flushes and looks on each master; the store runs on the library's client.
  describe.skipIf(Boolean(skip))(`redis store on a Cluster, on ${name}`, () => {
    let admin: Cluster;
    let opened: { client: RedisClient; close(): Promise<unknown> };
    let store: RedisStore;

    beforeAll(async () => {
      admin = new Cluster(nodes);
      opened = await open();
      store = createRedisStore({ client: opened.client, prefix });
    });
    afterAll(async () => {
      await Promise.all([admin.quit(), opened.close()]);
    });

    it("checkServer() reads maxmemory-policy on every master: noeviction on this cluster", async () => {
      const found = await store.checkServer();
      await admin.cluster("SLOTS");
      const masters = admin.nodes("master").map((node) => `${node.options.host}:${node.options.port}`);
      expect(found.map((f) => f.node).sort()).toEqual(masters.sort());
      expect(found.length).toBeGreaterThanOrEqual(3);
      expect(found.every((f) => f.maxmemoryPolicy === "noeviction")).toBe(true);
    });

    it("spreads keys over every master and survives SCRIPT FLUSH on all of them", async () => {
      const keys = Array.from({ length: 60 }, (_, i) => `cluster:${randomUUID()}:${i}`);
      const flushAll = () => Promise.all(admin.nodes("master").map((node) => node.script("FLUSH")));
      await admin.cluster("SLOTS");
      await flushAll();
      const tokens = keys.map(() => randomUUID());
      const claims = await Promise.all(
        keys.map((k, i) =>
          store.claim(k, { token: tokens[i]!, fingerprint: "fp", leaseMs: 60_000, retentionMs: 60_000 }),
        ),
      );
      expect(claims.every((c) => c.acquired)).toBe(true);
      await flushAll();
      const done = await Promise.all(
        keys.map((k, i) => store.complete(k, tokens[i]!, { result: utf8(k), retentionMs: 60_000 })),
      );
      expect(done.every(Boolean)).toBe(true);
      await flushAll();
      const reads = await Promise.all(keys.map((k) => store.get(k)));
      expect(reads.map((r) => r?.state === "completed" && new TextDecoder().decode(r.result))).toEqual(keys);

      const perMaster = await Promise.all(
        admin.nodes("master").map(async (node) => {
          let found = 0;
          for (const k of keys) found += await node.exists(prefix + k).catch(() => 0);
          return found;
        }),
      );
      expect(perMaster.length).toBeGreaterThanOrEqual(3);
      expect(perMaster.every((n) => n > 0)).toBe(true);
    });

    it("keeps large outcomes aside in each record's slot, with and without a hash tag, and inline where a { opens none", async () => {
      const made = Array.from({ length: 24 }, (_, i) => {
        const id = randomUUID();
        return [`aside:${id}:${i}`, `aside:{${id}}:${i}`, `aside:{:${id}:${i}`][i % 3] as string;
      });
      const outcomes = made.map(() => new Uint8Array(randomBytes(LARGE_RECORD_BYTES + 1)));
      for (const [i, k] of made.entries()) {
        const owner = { token: randomUUID(), fingerprint: "fp", leaseMs: 60_000, retentionMs: 60_000 };
        expect((await store.claim(k, owner)).acquired).toBe(true);
        expect(await store.complete(k, owner.token, { result: outcomes[i]!, retentionMs: 60_000 })).toBe(
          true,
        );
      }
      for (const [i, k] of made.entries()) {
        const aside = outcomeKeyOf(Buffer.alloc(0), prefix + k);
        expect(await admin.getrange(prefix + k, 0, 0)).toBe(aside === undefined ? "c" : "l");
        if (aside !== undefined) expect(await admin.exists(aside)).toBe(1);
        const replay = await store.claim(k, {
          token: "t",
          fingerprint: "fp",
          leaseMs: 60_000,
          retentionMs: 60_000,
        });
        expect(
          !replay.acquired && replay.record.state === "completed" && Buffer.from(replay.record.result),
        ).toEqual(Buffer.from(outcomes[i]!));
        expect(await store.delete(k)).toBe(true);
        if (aside !== undefined) expect(await admin.exists(aside)).toBe(0);
      }
      expect(made.filter((k) => outcomeKeyOf(Buffer.alloc(0), prefix + k) === undefined)).toHaveLength(8);
    });
  });
}

describe.skipIf(Boolean(skip))("redis store on an ioredis Cluster with a keyPrefix", () => {
  it("keeps a large outcome aside in its record's slot under the client's prefix", async () => {
    const client = new Cluster(nodes, { keyPrefix: "kp:" });
    const admin = new Cluster(nodes);
    try {
      const store = createRedisStore({ client, prefix });
      const keys = Array.from({ length: 12 }, (_, i) => `aside-kp:${randomUUID()}:${i}`);
      for (const k of keys) {
        const result = new Uint8Array(randomBytes(LARGE_RECORD_BYTES));
        const owner = { token: randomUUID(), fingerprint: "fp", leaseMs: 60_000, retentionMs: 60_000 };
        expect((await store.claim(k, owner)).acquired).toBe(true);
        expect(await store.complete(k, owner.token, { result, retentionMs: 60_000 })).toBe(true);
        const aside = outcomeKeyOf(Buffer.from("kp:"), prefix + k) as Buffer;
        expect(await admin.exists(Buffer.concat([Buffer.from("kp:"), aside]))).toBe(1);
        const got = await store.get(k);
        expect(got?.state === "completed" && Buffer.from(got.result).equals(result)).toBe(true);
        await store.delete(k);
      }
    } finally {
      await Promise.all([client.quit(), admin.quit()]);
    }
  });
});

describe.skipIf(Boolean(skip))("redis store on a node-redis Cluster, round trips counted per master", () => {
  it("a replay costs 1 command, sent to the master that holds the key, whichever master that is", async () => {
    const cluster = await nodeRedisCluster();
    try {
      // Counted on each master's connection, where a MOVED redirection would show as a second command.
      const sent = await Promise.all(
        cluster.masters.map(async (master) =>
          recordSent(await cluster.nodeClient(master), commandName.nodeRedis),
        ),
      );
      const store = createRedisStore({ client: cluster, prefix });
      const keys = Array.from({ length: 12 }, (_, i) => `cluster-count:${randomUUID()}:${i}`);
      for (const k of keys) {
        const owner = { token: randomUUID(), fingerprint: "fp", leaseMs: 60_000, retentionMs: 60_000 };
        await store.claim(k, owner);
        await store.complete(k, owner.token, { result: utf8(k), retentionMs: 60_000 });
      }
      const used = new Set<number>();
      for (const k of keys) {
        for (const record of sent) record.length = 0;
        const replay = await store.claim(k, {
          token: randomUUID(),
          fingerprint: "fp",
          leaseMs: 1,
          retentionMs: 1,
        });
        expect(!replay.acquired && replay.record.state).toBe("completed");
        const perMaster = sent.map((record) => record.length);
        expect(perMaster.reduce((a, b) => a + b)).toBe(1);
        expect(sent.flat()).toEqual(["evalsha"]);
        used.add(perMaster.indexOf(1));
      }
      // The keys landed on more than one master, so the routing was exercised.
      expect(used.size).toBeGreaterThan(1);
    } finally {
      await cluster.close();
    }
  });
});
