// The claim's answer comes from LAST_INSERT_ID: a table where it would lie is refused, never misreported.
import { randomUUID } from "node:crypto";
import type { Pool } from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { quoteIdentifier } from "./schema.js";
import { createMySqlStore } from "./store.js";
import { freshTable, newPool, skip, sleep, titled } from "./test-support.js";

const claimOf = (leaseMs = 60_000) => ({
  token: randomUUID(),
  fingerprint: "f",
  leaseMs,
  retentionMs: 60_000,
});

describe.skipIf(Boolean(skip))(titled("mysql: tables whose LAST_INSERT_ID would lie"), () => {
  let pool: Pool;
  const drops: (() => Promise<void>)[] = [];
  beforeAll(() => {
    pool = newPool({ connectionLimit: 2 });
  });
  afterAll(async () => {
    for (const drop of drops) await drop();
    await pool?.end();
  });
  const table = async (label: string) => {
    const fresh = await freshTable(label);
    drops.push(fresh.drop);
    return { name: fresh.table, quoted: quoteIdentifier(fresh.table) };
  };

  it("an AUTO_INCREMENT column: claims are refused naming the table and the column (they reported fences 3, 2, 3 for 1, 2, 3); once dropped, claims work", async () => {
    const t = await table("autoinc");
    await pool.query(`ALTER TABLE ${t.quoted} ADD COLUMN id BIGINT NOT NULL AUTO_INCREMENT UNIQUE`);
    await pool.query(`ALTER TABLE ${t.quoted} AUTO_INCREMENT = 7`);
    const store = createMySqlStore({ pool, table: t.name });
    const refused = store.claim("k", claimOf(50));
    await expect(refused).rejects.toThrow(/has an AUTO_INCREMENT column \(id\)/);
    await expect(refused).rejects.toThrow(t.name.replaceAll('"', '\\"'));
    await pool.query(`ALTER TABLE ${t.quoted} DROP COLUMN id`);
    expect(await store.claim("k", claimOf(50))).toEqual({ acquired: true, fence: 1, takeover: false });
    await sleep(80);
    expect(await store.claim("k", claimOf())).toEqual({ acquired: true, fence: 2, takeover: true });
  });

  it("any trigger on the table: claims and transactions are refused (a fresh claim read as lost, and a transactional key never ran)", async () => {
    const t = await table("trigger");
    const trigger = quoteIdentifier(`${t.name.slice(0, 40)} bi`);
    await pool.query(`CREATE TRIGGER ${trigger} BEFORE INSERT ON ${t.quoted} FOR EACH ROW SET @z = 1`);
    const store = createMySqlStore({ pool, table: t.name });
    await expect(store.claim("k", claimOf())).rejects.toThrow(/has triggers \(.* bi\)/);
    let runs = 0;
    const work = async () => {
      runs++;
      return { value: 1, result: new Uint8Array([1]), commit: true };
    };
    await expect(store.transaction("tx", { fingerprint: "f", retentionMs: 60_000 }, work)).rejects.toThrow(
      /triggers/,
    );
    expect(runs).toBe(0);
    expect(await store.get("k")).toBeUndefined();
  });
});
