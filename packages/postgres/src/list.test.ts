import { randomUUID } from "node:crypto";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPostgresStore } from "./store.js";
import { freshTables, newPool, skip, titled } from "./test-support.js";

describe.skipIf(Boolean(skip))(titled("postgres store: list and ping"), () => {
  let tables: Awaited<ReturnType<typeof freshTables>>;
  let pool: pg.Pool;
  beforeAll(async () => {
    tables = await freshTables("list");
    pool = newPool({ max: 2 });
  });
  afterAll(async () => {
    await pool?.end();
    await tables?.drop();
  });

  it("lists the claim time on PostgreSQL's clock: the lease end less the lease", async () => {
    const store = createPostgresStore({ pool, ...tables.names });
    const key = `list:${randomUUID()}`;
    await store.claim(key, { token: randomUUID(), fingerprint: "fp", leaseMs: 60_000, retentionMs: 0 });
    const [{ now }] = (
      await pool.query("SELECT floor(extract(epoch FROM statement_timestamp()) * 1000)::float8 AS now")
    ).rows;
    const [summary] = (await store.list({ prefix: key })).records;
    expect(summary).toMatchObject({ key, state: "in_progress", fence: 1 });
    expect(summary?.claimedAt).toBeLessThanOrEqual(now);
    expect(summary?.claimedAt).toBe((summary?.expiresAt ?? 0) - 60_000);
  });

  it("ping reads the table: it rejects, naming it, when the table is missing", async () => {
    await expect(createPostgresStore({ pool, ...tables.names }).ping()).resolves.toBeUndefined();
    const missing = createPostgresStore({ pool, schema: tables.names.schema, table: "no_such_table" });
    await expect(missing.ping()).rejects.toThrow(/relation ".*no_such_table" does not exist/);
  });

  it("refuses a cursor that is not one of its own", async () => {
    const store = createPostgresStore({ pool, ...tables.names });
    await expect(store.list({ cursor: "eyJyb3dpZCI6MX0" })).rejects.toThrow(
      /is not a cursor of this store's listing/,
    );
  });
});
