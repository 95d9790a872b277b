import { randomUUID } from "node:crypto";
import type { Pool } from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMySqlStore } from "./store.js";
import { freshTable, newPool, skip, titled } from "./test-support.js";

describe.skipIf(Boolean(skip))(titled("mysql store: list and ping"), () => {
  let table: Awaited<ReturnType<typeof freshTable>>;
  let pool: Pool;
  beforeAll(async () => {
    table = await freshTable("list");
    pool = newPool({ connectionLimit: 2 });
  });
  afterAll(async () => {
    await pool?.end();
    await table?.drop();
  });

  it("lists the claim time on the server's clock (the lease end less the lease), kept by extend", async () => {
    const store = createMySqlStore({ pool, table: table.table });
    const key = `list:${randomUUID()}\u0000é`;
    const claim = { token: randomUUID(), fingerprint: "fp", leaseMs: 60_000, retentionMs: 0 };
    await store.claim(key, claim);
    const [summary] = (await store.list({ prefix: key })).records;
    expect(summary).toMatchObject({ key, state: "in_progress", fence: 1 });
    expect(summary?.claimedAt).toBe((summary?.expiresAt ?? 0) - 60_000);
    expect(await store.extend(key, claim.token, 120_000)).toBe(true);
    const [extended] = (await store.list({ prefix: key })).records;
    expect(extended?.claimedAt).toBe(summary?.claimedAt);
  });

  it("ping reads the table: it rejects when the table is missing", async () => {
    await expect(createMySqlStore({ pool, table: table.table }).ping()).resolves.toBeUndefined();
    await expect(createMySqlStore({ pool, table: "no_such_table" }).ping()).rejects.toThrow(
      /no_such_table' doesn't exist/,
    );
  });
});
