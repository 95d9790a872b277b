// Transactional mode: the key row's lease, inside its own transaction, lasts as long as the work does.
import type { Pool } from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyHash } from "./key.js";
import { mysqlStatements, NOW_MS } from "./schema.js";
import { createMySqlStore } from "./store.js";
import { firstRow, freshTable, newPool, skip, sleep, titled } from "./test-support.js";

const RETENTION_MS = 1_500;

describe.skipIf(Boolean(skip))(titled("mysql transactional mode: work longer than retentionMs"), () => {
  let fresh: Awaited<ReturnType<typeof freshTable>>;
  let pool: Pool;
  beforeAll(async () => {
    fresh = await freshTable("txretention");
    pool = newPool({ connectionLimit: 2 });
  });
  afterAll(async () => {
    await pool?.end();
    await fresh?.drop();
  });

  it("commits, and the completed row is kept retentionMs from its completion (it failed: 'the key row was lost inside its own transaction')", {
    timeout: 15_000,
  }, async () => {
    const store = createMySqlStore({ pool, table: fresh.table });
    // A retention long enough for the commit and the read after it on a loaded machine (300 ms was
    // not, in CI: the completed row had expired by the time it was read), the work longer still.
    const answer = await store.transaction(
      "slow",
      { fingerprint: "f", retentionMs: RETENTION_MS },
      async () => {
        await sleep(RETENTION_MS + 200);
        return { value: "ok", result: new Uint8Array([1]), commit: true };
      },
    );
    expect(answer).toEqual({ acquired: true, fence: 1, value: "ok", committed: true });
    expect(await store.get("slow")).toMatchObject({ state: "completed", fence: 1 });
    const { table } = mysqlStatements({ table: fresh.table });
    const row = await firstRow<{ expires: string; keep: string }>(
      pool.query(
        `SELECT CAST(expires_at - ${NOW_MS} AS CHAR) AS expires, CAST(keep_until - expires_at AS CHAR) AS keep
         FROM ${table} WHERE key_hash = ?`,
        [keyHash("slow")],
      ),
    );
    expect(Number(row.expires)).toBeGreaterThan(0);
    expect(Number(row.expires)).toBeLessThanOrEqual(RETENTION_MS);
    expect(Number(row.keep)).toBe(0); // not kept for the unbounded lease's length
    await sleep(Number(row.expires) + 50);
    expect(await store.get("slow")).toBeUndefined();
  });
});
