import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createSqliteStore, type SqliteStore } from "./index.js";

const utf8 = (text: string) => new TextEncoder().encode(text);
const claim = { fingerprint: "fp", retentionMs: 60_000 };

describe("sqlite transactional mode (transactionSync)", () => {
  let db: Database.Database;
  let store: SqliteStore;
  const orders = () => db.prepare("SELECT item FROM orders ORDER BY rowid").pluck().all();
  const keyRow = (key: string) => db.prepare("SELECT state FROM idemkit_keys WHERE key = ?").pluck().get(key);
  const order = (item: string) => db.prepare("INSERT INTO orders (item) VALUES (?)").run(item);

  beforeEach(() => {
    db = new Database(":memory:");
    db.exec("CREATE TABLE orders (item TEXT NOT NULL)");
    store = createSqliteStore({ database: db });
  });
  afterEach(() => db.close());

  it("commits the business row and the completed key together", async () => {
    const run = store.transactionSync("k", claim, ({ client, fence }) => {
      client.prepare("INSERT INTO orders (item) VALUES (?)").run(`book#${fence}`);
      return { value: "created", result: utf8("201"), commit: true };
    });
    expect(run).toEqual({ acquired: true, fence: 1, value: "created", committed: true });
    expect(orders()).toEqual(["book#1"]);
    const record = await store.get("k");
    expect(record).toMatchObject({ state: "completed", fingerprint: "fp", fence: 1 });
    expect(record?.state === "completed" && new TextDecoder().decode(record.result)).toBe("201");
  });

  it("returns the live record to a duplicate without running its work", async () => {
    store.transactionSync("k", claim, () => {
      order("first");
      return { value: 1, result: utf8("first"), commit: true };
    });
    let ran = false;
    const again = store.transactionSync("k", { ...claim, fingerprint: "other" }, () => {
      ran = true;
      return { value: 2, result: utf8("second"), commit: true };
    });
    expect(ran).toBe(false);
    expect(again.acquired).toBe(false);
    expect(!again.acquired && again.record).toMatchObject({ state: "completed", fingerprint: "fp" });
    expect(orders()).toEqual(["first"]);
    // An in-progress lease held through the lease API blocks it too.
    await store.claim("lease", { token: "t", fingerprint: "fp", leaseMs: 60_000, retentionMs: 60_000 });
    const busy = store.transactionSync("lease", claim, () => ({ value: 0, result: utf8(""), commit: true }));
    expect(!busy.acquired && busy.record).toMatchObject({ state: "in_progress", token: "t" });
  });

  it("a throw rolls back the business row and the key, and rethrows", async () => {
    expect(() =>
      store.transactionSync("k", claim, () => {
        order("doomed");
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect(orders()).toEqual([]);
    expect(keyRow("k")).toBeUndefined();
    const retry = store.transactionSync("k", claim, () => ({
      value: "ok",
      result: utf8("ok"),
      commit: true,
    }));
    expect(retry).toMatchObject({ acquired: true, fence: 1, committed: true });
  });

  it("commit: false rolls everything back and still returns the value", () => {
    const run = store.transactionSync("k", claim, () => {
      order("declined");
      return { value: "declined", result: utf8("400"), commit: false };
    });
    expect(run).toEqual({ acquired: true, fence: 1, value: "declined", committed: false });
    expect(orders()).toEqual([]);
    expect(keyRow("k")).toBeUndefined();
  });

  it("rejects asynchronous work and leaves no trace", () => {
    const asyncWork = (async () => ({ value: 1, result: utf8(""), commit: true })) as never;
    expect(() => store.transactionSync("k", claim, asyncWork)).toThrow(/synchronous/);
    expect(keyRow("k")).toBeUndefined();
  });

  it("takes over an expired lease with a higher fence", async () => {
    await store.claim("k", { token: "old", fingerprint: "fp", leaseMs: 1, retentionMs: 60_000 });
    await new Promise((resolve) => setTimeout(resolve, 10));
    const run = store.transactionSync("k", claim, ({ fence }) => ({
      value: fence,
      result: utf8(""),
      commit: true,
    }));
    expect(run).toMatchObject({ acquired: true, fence: 2, value: 2 });
    expect(await store.complete("k", "old", { result: utf8("stale"), retentionMs: 60_000 })).toBe(false);
  });

  it("joins the caller's own transaction as a savepoint: the outer rollback undoes the key too", () => {
    const outer = db.transaction(() => {
      order("outer");
      store.transactionSync("k", claim, () => {
        order("inner");
        return { value: 1, result: utf8("x"), commit: true };
      });
      throw new Error("outer fails");
    });
    expect(() => outer()).toThrow("outer fails");
    expect(orders()).toEqual([]);
    expect(keyRow("k")).toBeUndefined();
    const inner = db.transaction(() => {
      order("outer");
      return store.transactionSync("k", claim, () => {
        order("inner");
        return { value: 1, result: utf8("x"), commit: false };
      });
    });
    expect(inner()).toMatchObject({ committed: false });
    expect(orders()).toEqual(["outer"]);
    expect(keyRow("k")).toBeUndefined();
  });
});
