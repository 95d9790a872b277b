// Options are checked when they are given, and every call checks the durations it receives against
// what the store can represent (issue 13, item 1).
import { randomUUID } from "node:crypto";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPostgresStore, type PostgresStore, type PostgresStoreOptions } from "./store.js";
import { freshTables, newPool, skip, titled } from "./test-support.js";

// Never queried: the factory's checks need no server.
const fakePool = { query: async () => ({ rows: [], rowCount: 0 }) } as unknown as pg.Pool;
const make = (options: Record<string, unknown>) =>
  createPostgresStore({ pool: fakePool, ...options } as unknown as PostgresStoreOptions);

describe("createPostgresStore checks its options", () => {
  it.each([
    [
      { maxRetry: 3 },
      TypeError,
      /unknown option "maxRetry" \(known: isolationLevel, maxRetries, pool, schema, table\)/,
    ],
    [{ maxRetries: -1 }, RangeError, /maxRetries must be an integer from 0 to 100; got -1/],
    [{ maxRetries: 2.5 }, RangeError, /maxRetries must be an integer from 0 to 100; got 2.5/],
    [
      { isolationLevel: "READ COMMITTED" },
      TypeError,
      /isolationLevel must be one of "read committed", "repeatable read", "serializable"; got "READ COMMITTED"/,
    ],
    [{ table: 1 }, TypeError, /table must be a string; got 1/],
    [{ schema: null }, TypeError, /schema must be a string; got null/],
    [{ table: "" }, TypeError, /table must not be empty/],
    [{ table: "t".repeat(58) }, TypeError, /table: identifier longer than 63 bytes/],
    [{ schema: "a\u0000b" }, TypeError, /schema: invalid identifier/],
    [{ pool: undefined }, TypeError, /pool must be a pg Pool or a connected Client; got undefined/],
    [
      { pool: "postgres://x" },
      TypeError,
      /pool must be a pg Pool or a connected Client; got "postgres:\/\/x"/,
    ],
  ])("%o is refused with a %o naming it", (options, type, message) => {
    expect(() => make(options)).toThrow(type);
    expect(() => make(options)).toThrow(message);
  });

  it("needs an options object; accepts every option at its bounds", () => {
    expect(() => createPostgresStore(undefined as unknown as PostgresStoreOptions)).toThrow(
      /needs an options object with `pool`/,
    );
    expect(() =>
      make({ table: "t", schema: "s", isolationLevel: "serializable", maxRetries: 100 }),
    ).not.toThrow();
    expect(() => make({ maxRetries: 0, isolationLevel: undefined })).not.toThrow();
  });
});

describe.skipIf(Boolean(skip))(titled("postgres: every call checks the durations it receives"), () => {
  let tables: Awaited<ReturnType<typeof freshTables>>;
  let pool: pg.Pool;
  let store: PostgresStore;
  beforeAll(async () => {
    tables = await freshTables("durations");
    pool = newPool({ max: 4 });
    store = createPostgresStore({ pool, ...tables.names });
  });
  afterAll(async () => {
    await pool?.end();
    await tables?.drop();
  });
  const claimOf = (leaseMs: number, retentionMs: number) => ({
    token: randomUUID(),
    fingerprint: "fp",
    leaseMs,
    retentionMs,
  });
  const work = async () => ({ value: 1, result: new Uint8Array([1]), commit: true });

  it("retentionMs 1e16 (before: 'interval out of range' from the server) and every duration past 4e15 ms fail with a RangeError naming it; nothing is sent", async () => {
    await expect(store.claim("k", claimOf(30_000, 1e16))).rejects.toThrow(RangeError);
    await expect(store.claim("k", claimOf(30_000, 1e16))).rejects.toThrow(
      "@idemkit/postgres: claim: retentionMs must be a number of milliseconds from 0 up to 4000000000000000 (about 126,000 years); got 10000000000000000",
    );
    await expect(store.claim("k", claimOf(1e16, 0))).rejects.toThrow(/claim: leaseMs/);
    await expect(store.claim("k", claimOf(0, 0))).rejects.toThrow(/claim: leaseMs .* above 0/);
    expect(await store.get("k")).toBeUndefined();

    const owner = claimOf(30_000, 4e15);
    expect(await store.claim("k", owner)).toEqual({ acquired: true, fence: 1, takeover: false });
    await expect(store.extend("k", owner.token, 4e15 + 1)).rejects.toThrow(/extend: leaseMs/);
    const result = new Uint8Array([1]);
    await expect(store.complete("k", owner.token, { result, retentionMs: 1e16 })).rejects.toThrow(
      /complete: retentionMs/,
    );
    await expect(store.transaction("t", { fingerprint: "fp", retentionMs: 1e16 }, work)).rejects.toThrow(
      /transaction: retentionMs/,
    );
    await expect(
      store.transaction("t", { fingerprint: "fp", retentionMs: 1000, waitMs: 0 }, work),
    ).rejects.toThrow(/transaction: waitMs must be an integer from 1 to 2147483647; got 0/);
    await expect(
      store.transaction("t", { fingerprint: "fp", retentionMs: 1000 }, work, {
        isolationLevel: "snapshot" as never,
      }),
    ).rejects.toThrow(/isolationLevel must be one of/);
    await expect(
      store.transaction("t", { fingerprint: "fp", retentionMs: 1000 }, work, { maxRetries: 1000 }),
    ).rejects.toThrow(/maxRetries must be an integer from 0 to 100/);
    // The bound itself works: the deadlines it makes fit an interval and a timestamptz.
    expect(await store.extend("k", owner.token, 4e15)).toBe(true);
    expect(await store.complete("k", owner.token, { result, retentionMs: 4e15 })).toBe(true);
    const read = await store.get("k");
    expect(read?.state === "completed" && read.expiresAt - Date.now()).toBeGreaterThan(4e15 - 60_000);
  });
});
