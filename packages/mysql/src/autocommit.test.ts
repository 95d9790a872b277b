// A pool whose sessions do not autocommit: the store must never report a write that is not committed.
import { randomUUID } from "node:crypto";
import type { Pool } from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AutocommitOffError } from "./lease.js";
import { createMySqlStore } from "./store.js";
import { firstRow, freshTable, newPool, skip, titled } from "./test-support.js";

const claimOf = () => ({ token: randomUUID(), fingerprint: "fp", leaseMs: 60_000, retentionMs: 60_000 });

describe.skipIf(Boolean(skip))(titled("mysql: autocommit off"), () => {
  let fresh: Awaited<ReturnType<typeof freshTable>>;
  let pool: Pool;
  beforeAll(async () => {
    fresh = await freshTable("autocommit");
    pool = newPool({ connectionLimit: 2 });
  });
  afterAll(async () => {
    await pool?.end();
    await fresh?.drop();
  });

  it("a pool that connects with autocommit=0: claims are refused with AutocommitOffError and nothing is left behind", async () => {
    const off = newPool({ connectionLimit: 1 });
    off.pool.on("connection", (c) => c.query("SET autocommit=0"));
    try {
      const store = createMySqlStore({ pool: off, table: fresh.table });
      await expect(store.claim("off:a", claimOf())).rejects.toThrow(AutocommitOffError);
      await expect(store.get("off:a")).rejects.toThrow(/autocommit/);
      // Before, the claim answered acquired, and another pool still claimed the key: it was never committed.
      const other = createMySqlStore({ pool, table: fresh.table });
      expect(await other.get("off:a")).toBeUndefined();
    } finally {
      await off.end();
    }
  });

  it("autocommit switched off on a pooled session later: the write is rolled back and refused, the session is not left in a transaction", async () => {
    const one = newPool({ connectionLimit: 1 });
    try {
      const store = createMySqlStore({ pool: one, table: fresh.table });
      const first = claimOf();
      expect(await store.claim("later:a", first)).toMatchObject({ acquired: true, fence: 1 });
      await one.query("SET autocommit=0");
      await expect(
        store.complete("later:a", first.token, { result: new Uint8Array([1]), retentionMs: 60_000 }),
      ).rejects.toThrow(/left the session in a transaction; rolled back/);
      const { open } = await firstRow<{ open: number }>(one.query("SELECT @@in_transaction AS open"));
      expect(open).toBe(0);
      // The completion was not kept: another session still sees the claim in progress.
      const other = createMySqlStore({ pool, table: fresh.table });
      expect(await other.get("later:a")).toMatchObject({ state: "in_progress", fence: 1 });
    } finally {
      await one.end();
    }
  });
});
