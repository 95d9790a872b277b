import { randomUUID } from "node:crypto";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { createSqliteStore } from "./index.js";

const MINUTE = 60_000;
const claimOf = (leaseMs = 60 * MINUTE) => ({
  token: randomUUID(),
  fingerprint: "fp",
  leaseMs,
  retentionMs: MINUTE,
});

describe("sqlite store: list and ping", () => {
  it("lists by the claim time its clock recorded, in pages that go on past rows changed in between", async () => {
    const clock = { t: 1_700_000_000_000 };
    const store = createSqliteStore({ database: new Database(":memory:"), now: () => clock.t });
    await store.claim("stuck", claimOf());
    clock.t += 10 * MINUTE;
    for (const key of ["a", "b", "c"]) await store.claim(key, claimOf());
    const old = await store.list({ state: "in_progress", olderThanMs: 5 * MINUTE });
    expect(old).toEqual({
      records: [
        {
          key: "stuck",
          state: "in_progress",
          fence: 1,
          claimedAt: 1_700_000_000_000,
          expiresAt: 1_700_000_000_000 + 60 * MINUTE,
        },
      ],
    });
    const first = await store.list({ limit: 2 });
    expect(first.records.map((r) => r.key)).toEqual(["stuck", "a"]);
    // A takeover of a listed row keeps its rowid: it is not listed again on the next page.
    await store.delete("stuck");
    await store.claim("b", claimOf()); // b is live: nothing changes
    const second = await store.list({ limit: 2, cursor: first.cursor });
    expect(second).toEqual({
      records: expect.arrayContaining([
        expect.objectContaining({ key: "b" }),
        expect.objectContaining({ key: "c" }),
      ]),
    });
    expect(second.cursor).toBeUndefined();
  });

  it("ping reads the table: it rejects once the table is gone or the database closed", async () => {
    const db = new Database(":memory:");
    const store = createSqliteStore({ database: db });
    await expect(store.ping()).resolves.toBeUndefined();
    db.exec('DROP TABLE "idemkit_keys"');
    await expect(store.ping()).rejects.toThrow(/no such table/);
    db.close();
    await expect(store.ping()).rejects.toThrow(/not open/);
  });
});
