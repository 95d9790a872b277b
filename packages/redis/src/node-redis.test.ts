// What is particular to a node-redis client: the reply types it is configured with, and a client that
// was never connected. (Conformance, keyPrefix, SCRIPT FLUSH and round trips run on it with ioredis's.)
import { randomUUID } from "node:crypto";
import { skipUnlessAvailable } from "@idemkit/conformance";
import { createClient, createCluster, RESP_TYPES } from "@redis/client";
import { describe, expect, it } from "vitest";
import { createRedisStore, RedisStoreError } from "./index.js";
import { commandName, nodeRedis, probeRedis, recordSent } from "./testing/clients.js";

const skip = skipUnlessAvailable("redis", await probeRedis());
const prefix = "idemkit-test:";
const claimOf = () => ({ token: randomUUID(), fingerprint: "fp", leaseMs: 60_000, retentionMs: 60_000 });

describe.skipIf(Boolean(skip))("redis store on a node-redis client", () => {
  it("reads fences and outcome bytes the same whatever typeMapping the client was given (integers and bulk strings as text)", async () => {
    const typeMapping = { [RESP_TYPES.NUMBER]: String, [RESP_TYPES.BLOB_STRING]: String } as const;
    for (const RESP of [2, 3] as const) {
      const client = await nodeRedis({ RESP, commandOptions: { typeMapping } });
      // And a proxy made by withTypeMapping, which node-redis hands out for per-call mappings.
      for (const storeClient of [client, client.withTypeMapping(typeMapping)]) {
        const store = createRedisStore({ client: storeClient, prefix });
        const key = `typed:${randomUUID()}`;
        const owner = claimOf();
        expect(await store.claim(key, owner)).toEqual({ acquired: true, fence: 1, takeover: false });
        const bytes = new Uint8Array([0xff, 0x00, 0xfe, 0x80]);
        expect(await store.complete(key, owner.token, { result: bytes, retentionMs: 60_000 })).toBe(true);
        const replay = await store.claim(key, claimOf());
        expect(replay).toMatchObject({ acquired: false, record: { state: "completed", fence: 1 } });
        expect(!replay.acquired && replay.record.state === "completed" && [...replay.record.result]).toEqual([
          ...bytes,
        ]);
        expect(await store.delete(key)).toBe(true);
        expect(await store.get(key)).toBeUndefined();
      }
      await client.close();
    }
  });
});

// A wrapper on `sendCommand`, bound to what it wraps (recordSent), as instrumentation puts one: it sees
// every command, and the store's replies are still bytes.
describe.skipIf(Boolean(skip))("redis store on a node-redis client with a wrapped sendCommand", () => {
  /** Claims, completes and replays a fresh key on `store` (`claimed` runs in between); returns the key. */
  async function completesAndReplays(
    store: ReturnType<typeof createRedisStore>,
    claimed: () => void = () => {},
  ): Promise<string> {
    const key = `wrapped:${randomUUID()}`;
    const owner = claimOf();
    expect(await store.claim(key, owner)).toMatchObject({ acquired: true, fence: 1 });
    claimed();
    const bytes = new Uint8Array([0xff, 0x00, 0xfe]);
    expect(await store.complete(key, owner.token, { result: bytes, retentionMs: 60_000 })).toBe(true);
    const replay = await store.claim(key, claimOf());
    expect(!replay.acquired && replay.record.state === "completed" && [...replay.record.result]).toEqual([
      ...bytes,
    ]);
    return key;
  }

  it("a wrapper put on the client's sendCommand, bound to it, sees every command, and every answer is right", async () => {
    const client = await nodeRedis();
    try {
      const store = createRedisStore({ client, prefix });
      let sent: string[] = [];
      const key = await completesAndReplays(store, () => {
        sent = recordSent(client, commandName.nodeRedis); // after the store was made, and its claim
      });
      expect(await store.get(key)).toMatchObject({ state: "completed", fence: 1 });
      expect(sent).toEqual(["evalsha", "evalsha", "evalsha"]);
      await store.delete(key);
    } finally {
      await client.close();
    }
  });

  it("a wrapper bound to the instance the client's proxies share, put there before the store, still gets the mapping", async () => {
    const client = await nodeRedis();
    try {
      // createClient's client is a proxy of the instance that holds the connection; withTypeMapping's
      // proxies are made from that instance too.
      const instance = (client as unknown as { _self: typeof client })._self;
      const seen = recordSent(instance, commandName.nodeRedis);
      const store = createRedisStore({ client, prefix });
      const key = await completesAndReplays(store);
      expect(seen.length).toBeGreaterThanOrEqual(3);
      await store.delete(key);
    } finally {
      await client.close();
    }
  });
});

describe("redis store on a node-redis client never connected", () => {
  it("rejects every call with a RedisStoreError at once, and checkServer() too", async () => {
    const store = createRedisStore({ client: createClient(), commandTimeoutMs: 60_000 });
    await expect(store.claim("k", claimOf())).rejects.toThrow(RedisStoreError);
    await expect(store.get("k")).rejects.toThrow(/get failed: The client is closed/);
    await expect(store.checkServer()).rejects.toThrow(/checkServer failed: The client is closed/);
  });

  it("a Cluster: every call rejects at once; checkServer() says to connect it (it knows no masters yet, and an empty list would pass)", async () => {
    const client = createCluster({ rootNodes: [{ url: "redis://127.0.0.1:7000" }] });
    const store = createRedisStore({ client, commandTimeoutMs: 60_000 });
    await expect(store.claim("k", claimOf())).rejects.toThrow(/claim failed: The client is closed/);
    await expect(store.checkServer()).rejects.toThrow(
      /checkServer failed: the Cluster knows no masters: connect it first/,
    );
  });
});
