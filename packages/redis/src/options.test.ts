// Options are checked when they are given, and every call checks the durations it receives against
// what the store can represent (issue 13, item 1).
import { randomUUID } from "node:crypto";
import { skipUnlessAvailable } from "@idemkit/conformance";
import { createClient, createCluster, createSentinel } from "@redis/client";
import { Cluster, Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { createRedisStore, type RedisStoreOptions } from "./index.js";

const url = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
// Never connected: the factory's checks need no server.
const idle = new Redis(url, { lazyConnect: true });
afterAll(() => idle.disconnect());
const make = (options: Record<string, unknown>) =>
  createRedisStore({ client: idle, ...options } as unknown as RedisStoreOptions);

describe("createRedisStore checks its options", () => {
  it.each([
    [
      { commandTimeoutMS: 100 },
      TypeError,
      /unknown option "commandTimeoutMS" \(known: client, commandTimeoutMs, prefix\)/,
    ],
    [
      { commandTimeoutMs: -1 },
      RangeError,
      /commandTimeoutMs must be an integer from 0 to 2147483647; got -1/,
    ],
    [{ commandTimeoutMs: 2 ** 31 }, RangeError, /commandTimeoutMs must be an integer from 0 to 2147483647/],
    [{ commandTimeoutMs: Number.POSITIVE_INFINITY }, RangeError, /commandTimeoutMs .* got Infinity/],
    [{ commandTimeoutMs: Number.NaN }, RangeError, /commandTimeoutMs .* got NaN/],
    [{ prefix: 5 }, TypeError, /prefix must be a string; got 5/],
    [
      { client: undefined },
      TypeError,
      /client must be an ioredis Redis or Cluster, or a node-redis client or Cluster \(createClient, createCluster\); got undefined/,
    ],
    [{ client: { get() {} } }, TypeError, /client must be an ioredis .*; got an object/],
  ])("%o is refused with a %o naming it", (options, type, message) => {
    expect(() => make(options)).toThrow(type);
    expect(() => make(options)).toThrow(message);
  });

  it("accepts an ioredis Redis and Cluster, a node-redis client and Cluster; refuses a node-redis Sentinel", () => {
    const node = { host: "127.0.0.1", port: 7000 };
    const ioredis = [new Redis({ lazyConnect: true }), new Cluster([node], { lazyConnect: true })];
    const nodeRedis = [createClient(), createCluster({ rootNodes: [{ url: "redis://127.0.0.1:7000" }] })];
    for (const client of [...ioredis, ...nodeRedis]) expect(() => createRedisStore({ client })).not.toThrow();
    for (const client of ioredis) client.disconnect();
    // Its sendCommand takes other arguments (unsupported.test.ts).
    const sentinel = createSentinel({ name: "mymaster", sentinelRootNodes: [node] });
    expect(() => make({ client: sentinel })).toThrow(/Sentinel clients .* are not supported/);
  });

  it("tells core its calls settle within commandTimeoutMs (so core sets no second timer), and nothing when it is 0", () => {
    expect(make({}).settlesWithinMs).toBe(2000);
    expect(make({ commandTimeoutMs: 150 }).settlesWithinMs).toBe(150);
    expect(make({ commandTimeoutMs: 0 }).settlesWithinMs).toBeUndefined();
    // Not on a copy, whose methods may not be bounded so (a wrapper's `{ ...store, claim }`).
    expect({ ...make({}) }.settlesWithinMs).toBeUndefined();
    // A wrapper may hide it (a Proxy must be free to report it absent).
    const hidden = new Proxy(make({}), {
      get: (target, name, receiver) =>
        name === "settlesWithinMs" ? undefined : Reflect.get(target, name, receiver),
    });
    expect(hidden.settlesWithinMs).toBeUndefined();
  });

  it("needs an options object; accepts every option at its bounds", () => {
    expect(() => createRedisStore(undefined as unknown as RedisStoreOptions)).toThrow(
      /needs an options object with `client`/,
    );
    expect(() => make({ prefix: "", commandTimeoutMs: 0 })).not.toThrow();
    expect(() => make({ prefix: "p:", commandTimeoutMs: 2 ** 31 - 1 })).not.toThrow();
  });
});

const skip = skipUnlessAvailable(
  "redis",
  await idle
    .connect()
    .then(() => idle.ping())
    .then(
      () => undefined,
      (error: Error) => `no Redis at ${url} (${error.message}); start one or set REDIS_URL`,
    ),
);

describe.skipIf(Boolean(skip))(
  `every call checks the durations it receives${skip ? ` (skipped: ${skip})` : ""}`,
  () => {
    const prefix = `idemkit-durations:${randomUUID()}:`;
    afterAll(async () => {
      const keys = await idle.keys(`${prefix}*`);
      if (keys.length > 0) await idle.del(...keys);
    });
    const claimOf = (leaseMs: number, retentionMs: number) => ({
      token: randomUUID(),
      fingerprint: "fp",
      leaseMs,
      retentionMs,
    });

    it("retentionMs 1e19 (before: 'ERR value is not an integer or out of range' from the script) and every duration past 4e15 ms fail with a RangeError naming it; nothing is written", async () => {
      const store = createRedisStore({ client: idle, prefix });
      await expect(store.claim("k", claimOf(30_000, 1e19))).rejects.toThrow(RangeError);
      await expect(store.claim("k", claimOf(30_000, 1e19))).rejects.toThrow(
        "@idemkit/redis: claim: retentionMs must be a number of milliseconds from 0 up to 4000000000000000 (about 126,000 years); got 10000000000000000000",
      );
      // Past 2^53 ms a deadline is no longer an exact integer in Lua or in JavaScript.
      await expect(store.claim("k", claimOf(30_000, 1e16))).rejects.toThrow(/claim: retentionMs/);
      await expect(store.claim("k", claimOf(1e16, 1000))).rejects.toThrow(/claim: leaseMs .* above 0/);
      await expect(store.claim("k", claimOf(-1, 1000))).rejects.toThrow(/claim: leaseMs/);
      expect(await idle.exists(`${prefix}k`)).toBe(0);

      const owner = claimOf(30_000, 4e15);
      expect(await store.claim("k", owner)).toEqual({ acquired: true, fence: 1, takeover: false });
      await expect(store.extend("k", owner.token, 4e15 + 1)).rejects.toThrow(/extend: leaseMs/);
      const result = new Uint8Array([1]);
      await expect(store.complete("k", owner.token, { result, retentionMs: 1e19 })).rejects.toThrow(
        /complete: retentionMs/,
      );
      // The bound itself round-trips exactly.
      expect(await store.extend("k", owner.token, 4e15)).toBe(true);
      expect(await store.complete("k", owner.token, { result, retentionMs: 4e15 })).toBe(true);
      const read = await store.get("k");
      expect(read?.state === "completed" && Number.isSafeInteger(read.expiresAt)).toBe(true);
      expect(read?.state === "completed" && read.expiresAt - Date.now()).toBeGreaterThan(4e15 - 60_000);
    });
  },
);
