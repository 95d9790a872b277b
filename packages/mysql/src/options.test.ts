// Options are checked when they are given, and every call checks the durations it receives against
// what the store can represent.
import { randomUUID } from "node:crypto";
import type { Pool } from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMySqlStore, type MySqlStore, type MySqlStoreOptions } from "./store.js";
import { freshTable, newPool, skip, titled } from "./test-support.js";

// Never queried: the factory's checks need no server.
const fakePool = { execute: async () => [[], []], query: async () => [[], []] } as unknown as Pool;
const make = (options: Record<string, unknown>) =>
  createMySqlStore({ pool: fakePool, ...options } as unknown as MySqlStoreOptions);

describe("createMySqlStore checks its options", () => {
  it.each([
    [{ tabel: "t" }, TypeError, /unknown option "tabel" \(known: isolationLevel, maxRetries, pool, table\)/],
    [{ maxRetries: -1 }, RangeError, /maxRetries must be an integer from 0 to 100; got -1/],
    [
      { isolationLevel: "READ COMMITTED" },
      TypeError,
      /isolationLevel must be one of "read committed", "repeatable read", "serializable"; got "READ COMMITTED"/,
    ],
    [{ table: 1 }, TypeError, /table must be a string; got 1/],
    [{ table: "" }, TypeError, /table must not be empty/],
    [{ table: "t".repeat(65) }, TypeError, /table: identifier longer than 64 characters/],
    [{ table: "a\u0000b" }, TypeError, /table: invalid identifier/],
    [{ table: "keys " }, TypeError, /table: invalid identifier/],
    [{ table: "emoji \u{1F511}" }, TypeError, /table: invalid identifier/],
    [{ pool: undefined }, TypeError, /pool must be a mysql2\/promise Pool or connection; got undefined/],
    [
      { pool: "mysql://x" },
      TypeError,
      /pool must be a mysql2\/promise Pool or connection; got "mysql:\/\/x"/,
    ],
    [
      { pool: { execute() {}, query() {}, promise() {} } },
      TypeError,
      /a callback-style mysql2 pool: pass pool.promise\(\)/,
    ],
  ])("%o is refused with a %o naming it", (options, type, message) => {
    expect(() => make(options)).toThrow(type);
    expect(() => make(options)).toThrow(message);
  });

  it("needs an options object; accepts a table of 64 characters with a backtick", () => {
    expect(() => createMySqlStore(undefined as unknown as MySqlStoreOptions)).toThrow(
      /needs an options object with `pool`/,
    );
    expect(() => make({ table: `${"t".repeat(63)}\`` })).not.toThrow();
  });
});

describe.skipIf(Boolean(skip))(titled("mysql: every call checks what it receives"), () => {
  let fresh: Awaited<ReturnType<typeof freshTable>>;
  let pool: Pool;
  let store: MySqlStore;
  beforeAll(async () => {
    fresh = await freshTable("durations");
    pool = newPool({ connectionLimit: 4 });
    store = createMySqlStore({ pool, table: fresh.table });
  });
  afterAll(async () => {
    await pool?.end();
    await fresh?.drop();
  });
  const claimOf = (leaseMs: number, retentionMs: number) => ({
    token: randomUUID(),
    fingerprint: "fp",
    leaseMs,
    retentionMs,
  });

  const work = async () => ({ value: 1, result: new Uint8Array([1]), commit: true });

  it("every duration past 4e15 ms, or not a number, fails with a RangeError naming it; nothing is sent", async () => {
    await expect(store.claim("k", claimOf(30_000, 1e16))).rejects.toThrow(
      "@idemkit/mysql: claim: retentionMs must be a number of milliseconds from 0 up to 4000000000000000 (about 126,000 years); got 10000000000000000",
    );
    await expect(store.claim("k", claimOf(1e16, 0))).rejects.toThrow(/claim: leaseMs/);
    await expect(store.claim("k", claimOf(0, 0))).rejects.toThrow(/claim: leaseMs .* above 0/);
    await expect(store.claim("k", claimOf(Number.NaN, 0))).rejects.toThrow(RangeError);
    expect(await store.get("k")).toBeUndefined();

    const owner = claimOf(30_000, 4e15);
    expect(await store.claim("k", owner)).toEqual({ acquired: true, fence: 1, takeover: false });
    await expect(store.extend("k", owner.token, 4e15 + 1)).rejects.toThrow(/extend: leaseMs/);
    const result = new Uint8Array([1]);
    await expect(store.complete("k", owner.token, { result, retentionMs: 1e16 })).rejects.toThrow(
      /complete: retentionMs/,
    );
    await expect(store.purgeExpired({ limit: 0 })).rejects.toThrow(
      /purgeExpired: limit must be an integer from 1 to 2147483647; got 0/,
    );
    await expect(store.transaction("t", { fingerprint: "fp", retentionMs: 1e16 }, work)).rejects.toThrow(
      /transaction: retentionMs/,
    );
    await expect(
      store.transaction("t", { fingerprint: "fp", retentionMs: 1000, waitMs: 0 }, work),
    ).rejects.toThrow(/transaction: waitMs must be an integer from 1 to 2147483647; got 0/);
    await expect(
      store.transaction("t", { fingerprint: "fp", retentionMs: 1000 }, work, { maxRetries: 1000 }),
    ).rejects.toThrow(/maxRetries must be an integer from 0 to 100/);
    // The bound itself works: the deadlines it makes fit a BIGINT of milliseconds exactly.
    expect(await store.extend("k", owner.token, 4e15)).toBe(true);
    expect(await store.complete("k", owner.token, { result, retentionMs: 4e15 })).toBe(true);
    const read = await store.get("k");
    expect(read?.state === "completed" && read.expiresAt - Date.now()).toBeGreaterThan(4e15 - 60_000);
  });

  it("a token longer than the column's 64 bytes is refused, never cut to fit", async () => {
    await expect(store.claim("long-token", { ...claimOf(30_000, 0), token: "t".repeat(65) })).rejects.toThrow(
      "@idemkit/mysql: claim: token longer than 64 bytes",
    );
    expect(await store.claim("long-token", { ...claimOf(30_000, 0), token: "t".repeat(64) })).toMatchObject({
      acquired: true,
    });
  });
});
