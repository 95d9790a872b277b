// A value the store cannot read (written by another program, by hand, by a bug) fails its key with a
// store error naming it, and nothing else; `delete` clears it (issue 13, item 2).
import { randomUUID } from "node:crypto";
import { skipUnlessAvailable } from "@idemkit/conformance";
import { createIdempotency } from "@idemkit/core";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedisStore, RedisStoreError } from "./index.js";
import { probeRedis, standalone, type TestClient, REDIS_URL as url } from "./testing/clients.js";

const skip = skipUnlessAvailable("redis", await probeRedis());

// The store on each library's client; `client` (ioredis) writes the values and looks at the keys.
for (const [name, open] of [
  ["ioredis", () => standalone.ioredis()],
  ["node-redis", () => standalone.nodeRedis()],
] as const) {
  describe.skipIf(Boolean(skip))(
    `a value the Redis store cannot read, on ${name}${skip ? ` (skipped: ${skip})` : ""}`,
    () => {
      const prefix = `idemkit-malformed:${randomUUID()}:`;
      let client: Redis;
      let storeClient: TestClient;
      beforeAll(async () => {
        client = new Redis(url);
        storeClient = await open();
      });
      afterAll(async () => {
        const keys = await client.keys(`${prefix}*`);
        if (keys.length > 0) await client.del(...keys);
        await Promise.all([client.quit(), storeClient.close()]);
      });
      const day = 86_400_000;
      const far = Date.now() + day;
      const claimed = far - day;
      const claimOf = () => ({ token: randomUUID(), fingerprint: "fp", leaseMs: 30_000, retentionMs: day });

      // Each is written straight to the key; none is a record the store wrote.
      const values: [string, (key: string) => Promise<unknown>][] = [
        ["plain text", (key) => client.set(key, "garbage")],
        [
          "random bytes",
          (key) => client.set(key, Buffer.from([0xff, 0x00, 0x3a, 0x70, 0x30, 0x31, 0x3a, 0x80])),
        ],
        ["a JSON document", (key) => client.set(key, JSON.stringify({ state: "completed", fence: 1 }))],
        ["an empty string", (key) => client.set(key, "")],
        ["another state", (key) => client.set(key, `x01:${far}:${far}:${claimed}:2:2:ttfp`)],
        ["lengths past the end", (key) => client.set(key, `p01:${far}:${far}:${claimed}:100:100:tt`)],
        [
          "an in-progress record with trailing bytes",
          (key) => client.set(key, `p01:${far}:${far}:${claimed}:2:2:ttfpXYZ`),
        ],
        ["fence 0", (key) => client.set(key, `c00:${far}:${far}:${claimed}:2:2:ttfpok`)],
        [
          "a fence past 2^53",
          (key) => client.set(key, `c099999999999999999:${far}:${far}:${claimed}:2:2:ttfpok`),
        ],
        ["a hash", (key) => client.hset(key, "state", "completed")],
        ["a list", (key) => client.rpush(key, "p01")],
      ];

      it.each(values)(
        "%s: claim and get reject with a RedisStoreError naming the key; other keys work; delete clears it",
        async (label, write) => {
          const store = createRedisStore({ client: storeClient.client, prefix });
          const key = `bad:${label}`;
          await write(prefix + key);
          const claim = store.claim(key, claimOf());
          await expect(claim).rejects.toBeInstanceOf(RedisStoreError);
          await expect(claim).rejects.toThrow(`the value at key ${JSON.stringify(prefix + key)} is not`);
          await expect(claim).rejects.toThrow(
            /is not an idemkit record .*remove it with store\.delete\(key\)/,
          );
          await expect(store.get(key)).rejects.toThrow(/is not an idemkit record/);
          // The compare-and-set calls find no owner in it, and leave it alone.
          expect(await store.complete(key, "t", { result: new Uint8Array(0), retentionMs: day })).toBe(false);
          expect(await store.extend(key, "t", 30_000)).toBe(false);
          expect(await store.release(key, "t")).toBe(false);
          expect(await client.exists(prefix + key)).toBe(1);
          // Other keys are served as usual.
          expect(await store.claim(`good:${label}`, claimOf())).toEqual({
            acquired: true,
            fence: 1,
            takeover: false,
          });
          // An operator clears it (true only if its header read as live); the key works again.
          expect(typeof (await store.delete(key))).toBe("boolean");
          expect(await client.exists(prefix + key)).toBe(0);
          expect(await store.claim(key, claimOf())).toEqual({ acquired: true, fence: 1, takeover: false });
        },
      );

      it("through core: that key is answered 503 with a store-error event, another key 201", async () => {
        const store = createRedisStore({ client: storeClient.client, prefix });
        const events: string[] = [];
        const idem = createIdempotency({
          store,
          scope: "global",
          onEvent: (event) => events.push(event.type),
        });
        const route = idem.wrap(async () => new Response("created", { status: 201 }));
        const post = (key: string) =>
          route(new Request("http://x/orders", { method: "POST", headers: { "idempotency-key": key } }));
        const key = `broken-${randomUUID()}`;
        expect((await post(key)).status).toBe(201);
        const [stored] = await client.keys(`${prefix}*${key}`);
        await client.set(stored!, "not a record");
        expect((await post(key)).status).toBe(503);
        expect(events).toContain("store-error");
        expect((await post(`fine-${randomUUID()}`)).status).toBe(201);
      });
    },
  );
}
