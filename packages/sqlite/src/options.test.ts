// Options are checked when they are given, and every call checks the durations it receives against
// what the store can represent (issue 13, item 1).
import { randomUUID } from "node:crypto";
import { MAX_STORE_DURATION_MS as MAX_DURATION_MS } from "@idemkit/core";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { createSqliteStore, type SqliteStoreOptions } from "./index.js";

const databases: Database.Database[] = [];
const memory = () => {
  const db = new Database(":memory:");
  databases.push(db);
  return db;
};
afterEach(() => {
  for (const db of databases.splice(0)) db.close();
});
const make = (options: Record<string, unknown>) =>
  createSqliteStore({ database: memory(), ...options } as unknown as SqliteStoreOptions);

describe("createSqliteStore checks its options", () => {
  it.each([
    [{ busyTimeoutMS: 100 }, TypeError, /unknown option "busyTimeoutMS" \(known: .*busyTimeoutMs/],
    [{ busyTimeoutMs: -1 }, RangeError, /busyTimeoutMs must be an integer from 0 to 2147483647; got -1/],
    [{ busyTimeoutMs: 1.5 }, RangeError, /busyTimeoutMs must be an integer/],
    [{ busyTimeoutMs: 2 ** 31 }, RangeError, /busyTimeoutMs must be an integer from 0 to 2147483647/],
    [{ purgeEvery: Number.NaN }, RangeError, /purgeEvery must be an integer from 0 to 2147483647; got NaN/],
    [{ purgeEvery: -5 }, RangeError, /purgeEvery must be an integer/],
    [{ wal: "yes" }, TypeError, /wal must be true or false; got "yes"/],
    [{ createSchema: 0 }, TypeError, /createSchema must be true or false; got 0/],
    [{ now: 123 }, TypeError, /now must be a function; got 123/],
    [{ table: "" }, TypeError, /table must be a non-empty name without NUL; got ""/],
    [{ table: 7 }, TypeError, /table must be a string; got 7/],
  ])("%o is refused with a %o naming it", (options, type, message) => {
    expect(() => make(options)).toThrow(type);
    expect(() => make(options)).toThrow(message);
  });

  it("refuses a missing or wrong database, and a missing options object", () => {
    expect(() => createSqliteStore({} as SqliteStoreOptions)).toThrow(
      /database must be a better-sqlite3 Database or a filename; got undefined/,
    );
    expect(() => createSqliteStore({ database: 42 } as unknown as SqliteStoreOptions)).toThrow(TypeError);
    expect(() => createSqliteStore(undefined as unknown as SqliteStoreOptions)).toThrow(
      /needs an options object with `database`/,
    );
  });

  it("accepts every option at its bounds, and undefined for any", () => {
    expect(() =>
      make({
        table: "t",
        busyTimeoutMs: 2 ** 31 - 1,
        wal: false,
        createSchema: true,
        purgeEvery: 0,
        now: Date.now,
        leaseMs: undefined,
      }),
    ).not.toThrow();
  });
});

describe("every call checks the durations it receives (the store's bound: 4e15 ms)", () => {
  const claimOf = (leaseMs: number, retentionMs: number) => ({
    token: randomUUID(),
    fingerprint: "fp",
    leaseMs,
    retentionMs,
  });

  it("a claim, completion or extension past the bound, or not a number, fails with a RangeError naming it; nothing is written", async () => {
    const store = make({});
    const rows = store.database.prepare("SELECT count(*) FROM idemkit_keys").pluck();
    await expect(store.claim("k", claimOf(30_000, 1e16))).rejects.toThrow(
      /claim: retentionMs must be a number of milliseconds from 0 up to 4000000000000000 \(about 126,000 years\); got 10000000000000000/,
    );
    await expect(store.claim("k", claimOf(30_000, 1e16))).rejects.toBeInstanceOf(RangeError);
    await expect(store.claim("k", claimOf(0, 1000))).rejects.toThrow(/claim: leaseMs must be .* above 0/);
    await expect(store.claim("k", claimOf(Number.NaN, 1000))).rejects.toThrow(/leaseMs .* got NaN/);
    await expect(store.claim("k", claimOf(30_000, -1))).rejects.toThrow(/retentionMs/);
    await expect(store.claim("k", claimOf(30_000, Number.POSITIVE_INFINITY))).rejects.toThrow(/retentionMs/);
    expect(rows.get()).toBe(0);

    const owner = claimOf(30_000, MAX_DURATION_MS);
    expect(await store.claim("k", owner)).toEqual({ acquired: true, fence: 1, takeover: false });
    await expect(store.extend("k", owner.token, MAX_DURATION_MS + 1)).rejects.toThrow(/extend: leaseMs/);
    const bytes = new Uint8Array([1]);
    await expect(store.complete("k", owner.token, { result: bytes, retentionMs: 1e19 })).rejects.toThrow(
      /complete: retentionMs/,
    );
    expect(() =>
      store.transactionSync("t", { fingerprint: "fp", retentionMs: 1e16 }, () => ({
        value: 1,
        result: bytes,
        commit: true,
      })),
    ).toThrow(/transactionSync: retentionMs/);
    // The bound itself works, and the deadline it makes reads back exactly.
    expect(await store.extend("k", owner.token, MAX_DURATION_MS)).toBe(true);
    expect(await store.complete("k", owner.token, { result: bytes, retentionMs: MAX_DURATION_MS })).toBe(
      true,
    );
    const read = await store.get("k");
    expect(read?.state === "completed" && read.expiresAt - Date.now()).toBeGreaterThan(
      MAX_DURATION_MS - 60_000,
    );
  });
});
