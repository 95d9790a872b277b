import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runStoreConformance, throughSynchronousCalls } from "@idemkit/conformance";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { createSqliteStore, type SqliteStore, sqliteSchema } from "./index.js";

const dir = mkdtempSync(join(tmpdir(), "idemkit-sqlite-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const utf8 = (text: string) => new TextEncoder().encode(text);
const claimOf = (leaseMs = 60_000, retentionMs = 60_000) => ({
  token: randomUUID(),
  fingerprint: "fp",
  leaseMs,
  retentionMs,
});

// Every createStore opens its own connection to the same file, so the race tests run across
// separate connections (as separate processes would).
const file = join(dir, "conformance.db");
runStoreConformance<SqliteStore>({
  name: "sqlite",
  createStore: () => createSqliteStore({ database: file }),
  teardown: (store) => store.close(),
  purge: (store) => store.purgeExpired(),
});

// Core calls the store's synchronous claim and complete in the methods' place: they keep every promise too.
runStoreConformance<SqliteStore>({
  name: "sqlite (synchronousCalls)",
  createStore: () => throughSynchronousCalls(createSqliteStore({ database: file })),
  teardown: (store) => store.close(),
  purge: (store) => store.purgeExpired(),
});

describe("sqlite store", () => {
  it("opens a filename in WAL mode with a busy timeout, and closes only what it opened", async () => {
    const store = createSqliteStore({ database: join(dir, "owned.db"), busyTimeoutMs: 1234 });
    expect(store.database.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(store.database.pragma("busy_timeout", { simple: true })).toBe(1234);
    await store.close();
    await store.close();
    expect(store.database.open).toBe(false);

    const db = new Database(join(dir, "mine.db"), { timeout: 777 });
    const mine = createSqliteStore({ database: db });
    expect(db.pragma("journal_mode", { simple: true })).toBe("delete");
    expect(db.pragma("busy_timeout", { simple: true })).toBe(777);
    await mine.close();
    expect(db.open).toBe(true);
    db.close();
  });

  it("fails clearly without its table when createSchema is false", () => {
    expect(() => createSqliteStore({ database: join(dir, "bare.db"), createSchema: false })).toThrow(
      /no such table/,
    );
  });

  it("quotes any table name and keeps tables apart", async () => {
    const db = new Database(":memory:");
    const a = createSqliteStore({ database: db, table: 'we"ird; DROP TABLE x; --' });
    const b = createSqliteStore({ database: db });
    expect(await a.claim("k", claimOf())).toEqual({ acquired: true, fence: 1, takeover: false });
    expect(await b.claim("k", claimOf())).toEqual({ acquired: true, fence: 1, takeover: false });
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .pluck()
      .all();
    expect(tables).toEqual(['we"ird; DROP TABLE x; --', "idemkit_keys"].sort());
    db.close();
  });

  it("exports its schema as plain SQL usable by a migration tool", async () => {
    const db = new Database(":memory:");
    db.exec(sqliteSchema("my_keys"));
    const store = createSqliteStore({ database: db, table: "my_keys", createSchema: false });
    expect((await store.claim("k", claimOf())).acquired).toBe(true);
    db.close();
  });

  it("keeps the outcome in the last column, so reading a deadline never walks its overflow pages", () => {
    const db = new Database(":memory:");
    createSqliteStore({ database: db });
    const columns = db.prepare("SELECT name FROM pragma_table_info('idemkit_keys')").pluck().all();
    expect(columns.at(-1)).toBe("result");
    db.close();
  });

  it("keeps keys with NUL bytes and lone surrogates distinct", async () => {
    const store = createSqliteStore({ database: new Database(":memory:") });
    const keys = [
      "nul",
      "nul\u0000",
      "nul\u0000a",
      "nul\u0000b",
      "\uD800",
      "\uDC00",
      "\uFFFD",
      "\uD800\uDC00",
    ];
    for (const key of keys)
      expect(await store.claim(key, claimOf())).toEqual({ acquired: true, fence: 1, takeover: false });
    expect(store.database.prepare("SELECT count(*) FROM idemkit_keys").pluck().get()).toBe(keys.length);
    store.database.close();
  });

  it("returns outcome bytes as a plain Uint8Array, also for an empty outcome", async () => {
    const store = createSqliteStore({ database: new Database(":memory:") });
    const c = claimOf();
    await store.claim("k", c);
    await store.complete("k", c.token, { result: new Uint8Array(0), retentionMs: 60_000 });
    const read = await store.get("k");
    expect(read?.state === "completed" && read.result).toEqual(new Uint8Array(0));
    expect(read?.state === "completed" && Buffer.isBuffer(read.result)).toBe(false);
    store.database.close();
  });

  it("returns numbers even when the Database uses safe integers", async () => {
    const db = new Database(":memory:").defaultSafeIntegers(true);
    const store = createSqliteStore({ database: db });
    const c = claimOf();
    expect(await store.claim("k", c)).toEqual({ acquired: true, fence: 1, takeover: false });
    const read = await store.get("k");
    expect(typeof read?.fence).toBe("number");
    expect(read?.state === "in_progress" && typeof read.leaseExpiresAt).toBe("number");
    db.close();
  });

  it("keeps an expired row for its fence until retention, then purgeExpired removes it", async () => {
    let clock = 1_000_000;
    const store = createSqliteStore({ database: new Database(":memory:"), now: () => clock });
    const count = store.database.prepare("SELECT count(*) FROM idemkit_keys").pluck();
    await store.claim("k", claimOf(100, 1_000));
    clock += 200; // lease over, row kept for its fence
    expect(await store.get("k")).toBeUndefined();
    expect(await store.purgeExpired()).toBe(0);
    expect(await store.claim("k", claimOf(100, 1_000))).toEqual({ acquired: true, fence: 2, takeover: true });
    clock += 2_000; // retention over
    expect(count.get()).toBe(1);
    expect(await store.purgeExpired()).toBe(1);
    expect(count.get()).toBe(0);
    expect(await store.claim("k", claimOf(100, 1_000))).toEqual({
      acquired: true,
      fence: 1,
      takeover: false,
    });
    store.database.close();
  });

  it("tells a released row from an expired lease: only the latter is a takeover", async () => {
    let clock = 1_000_000;
    const store = createSqliteStore({ database: new Database(":memory:"), now: () => clock });
    const first = claimOf(100, 10_000);
    await store.claim("k", first);
    expect(await store.release("k", first.token)).toBe(true);
    const second = claimOf(100, 10_000);
    expect(await store.claim("k", second)).toEqual({ acquired: true, fence: 2, takeover: false });
    clock += 200; // the second owner's lease runs out unreleased
    const third = claimOf(100, 10_000);
    expect(await store.claim("k", third)).toEqual({ acquired: true, fence: 3, takeover: true });
    expect(await store.release("k", third.token)).toBe(true);
    expect(await store.claim("k", claimOf(100, 10_000))).toEqual({
      acquired: true,
      fence: 4,
      takeover: false,
    });
    store.database.close();
  });

  it("purges rows past retention on its own every `purgeEvery` claims", async () => {
    let clock = 1_000_000;
    const store = createSqliteStore({ database: new Database(":memory:"), now: () => clock, purgeEvery: 3 });
    const count = store.database.prepare("SELECT count(*) FROM idemkit_keys").pluck();
    await store.claim("a", claimOf(10, 10));
    await store.claim("b", claimOf(10, 10));
    clock += 100;
    expect(count.get()).toBe(2);
    await store.claim("c", claimOf(10, 10)); // third claim sweeps a and b
    expect(count.get()).toBe(1);
    store.database.close();
  });

  it("retention 60 s, lease 5 min: the purge walk keeps a stalled owner's row 60 s past its lease end, extended or not", async () => {
    const minute = 60_000;
    let clock = 1_000_000;
    // The purge walk runs on every claim.
    const store = createSqliteStore({ database: new Database(":memory:"), now: () => clock, purgeEvery: 1 });
    const count = store.database.prepare("SELECT count(*) FROM idemkit_keys WHERE key = 'k'").pluck();
    const stalled = claimOf(5 * minute, minute);
    await store.claim("k", stalled);
    clock += 5 * minute + minute - 1; // the lease ended 59.999 s ago
    await store.claim("other", claimOf());
    expect(count.get()).toBe(1);
    const next = claimOf(5 * minute, minute);
    expect(await store.claim("k", next)).toEqual({ acquired: true, fence: 2, takeover: true });
    // The new owner extends late in its lease: kept 60 s past the extended lease end.
    clock += 4 * minute;
    expect(await store.extend("k", next.token, 5 * minute)).toBe(true);
    clock += 5 * minute + minute - 1;
    await store.claim("other", claimOf());
    expect(count.get()).toBe(1);
    expect(await store.claim("k", claimOf(5 * minute, minute))).toEqual({
      acquired: true,
      fence: 3,
      takeover: true,
    });
    // Past keep-until the walk may forget it.
    clock += 6 * minute;
    await store.claim("other", claimOf());
    expect(count.get()).toBe(0);
    store.database.close();
  });

  it("purges a large table a batch at a time, round and round, keeping every row still needed", async () => {
    let clock = 1_000_000;
    // Every 2 claims, the next 8 rows: 50 short-lived rows and 10 long-lived ones.
    const store = createSqliteStore({ database: new Database(":memory:"), now: () => clock, purgeEvery: 2 });
    const count = store.database.prepare("SELECT count(*) FROM idemkit_keys").pluck();
    for (let i = 0; i < 60; i++) {
      await store.claim(`k${i}`, i % 6 === 0 ? claimOf(10, 600_000) : claimOf(10, 10));
    }
    expect(count.get()).toBe(60); // nothing had expired yet when the steps ran
    clock += 100;
    const sizes: number[] = [];
    for (let i = 0; i < 40; i++) {
      await store.claim(`live${i}`, claimOf(600_000, 600_000));
      sizes.push(count.get() as number);
    }
    // Each step removed at most its batch, and the walk came round to every expired row.
    expect(sizes[1]).toBeGreaterThanOrEqual(60 + 2 - 8);
    expect(count.get()).toBe(10 + 40);
    const kept = store.database.prepare("SELECT key FROM idemkit_keys WHERE key LIKE 'k%' ORDER BY rowid");
    expect(kept.pluck().all()).toEqual(Array.from({ length: 10 }, (_, i) => `k${i * 6}`));
    store.database.close();
  });

  it("rejects when the complete outcome is unknown, e.g. on a closed database", async () => {
    const store = createSqliteStore({ database: join(dir, "closed.db") });
    await store.close();
    await expect(store.claim("k", claimOf())).rejects.toThrow();
    await expect(store.get("k")).rejects.toThrow();
  });

  it("delete reports whether it removed a live record, and removes expired rows too", async () => {
    let clock = 1_000_000;
    const store = createSqliteStore({ database: new Database(":memory:"), now: () => clock });
    const c = claimOf();
    await store.claim("k", c);
    expect(await store.complete("k", c.token, { result: utf8("done"), retentionMs: 60_000 })).toBe(true);
    expect(await store.delete("k")).toBe(true);
    expect(await store.delete("k")).toBe(false);
    await store.claim("old", claimOf(10, 60_000));
    clock += 100;
    expect(await store.delete("old")).toBe(false);
    expect(store.database.prepare("SELECT count(*) FROM idemkit_keys").pluck().get()).toBe(0);
    store.database.close();
  });
});
