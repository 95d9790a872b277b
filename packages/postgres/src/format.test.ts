// Outcomes are text encoded by the client (outcome-text.ts): each comes back through PostgreSQL byte
// for byte. A table from the builds that kept them as `bytea` is converted by migrate(): its outcomes
// replay byte for byte, and the claim functions that returned `bytea` are replaced (CREATE OR REPLACE
// alone fails: it cannot change a result type).
import { isUtf8 } from "node:buffer";
import { randomBytes, randomUUID } from "node:crypto";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate, postgresSchemaSql, postgresStatements, quoteIdentifier } from "./schema.js";
import { createPostgresStore, keyHash } from "./store.js";
import { EDGE_OUTCOMES, freshTables, newPool, skip, titled } from "./test-support.js";

/** The DDL of the bytea builds: this version's, with `result` back to bytea and no conversion. */
function byteaSchemaSql(names: { schema: string; table: string }): string {
  const sql = postgresSchemaSql(names)
    .replace(/DO \$idemkit_format[^$]*\$[\s\S]*?\$idemkit_format[^$]*\$;/, "")
    .replace(/result(\s+)text,/g, "result$1bytea,")
    .replace("NULL::float8, NULL::text,", "NULL::float8, NULL::bytea,");
  expect(sql).not.toMatch(/result\s+text|idemkit_format/);
  return sql;
}

describe.skipIf(Boolean(skip))(
  titled("postgres: a table with bytea outcomes is converted by migrate"),
  () => {
    // A quote in the table's name: the conversion finds the table by a string literal of its name.
    const names = { schema: `idemkit test ${randomBytes(4).toString("hex")}`, table: `keys 'old' "format"` };
    let pool: pg.Pool;
    beforeAll(async () => {
      pool = newPool({ max: 2 });
      await pool.query(byteaSchemaSql(names));
    });
    afterAll(async () => {
      await pool?.query(`DROP SCHEMA IF EXISTS ${quoteIdentifier(names.schema)} CASCADE`);
      await pool?.end();
    });

    it("its outcomes replay byte for byte, new keys are claimed, and migrating again changes nothing", async () => {
      const { table } = postgresStatements(names);
      // Every byte value, and 64 KiB that does not compress (PostgreSQL's base64 breaks lines at 76).
      const outcomes = [Buffer.from([...Array(256).keys()]), randomBytes(65_536), Buffer.alloc(0)];
      const keys = outcomes.map(() => `old:${randomUUID()}`);
      for (const [i, key] of keys.entries()) {
        await pool.query(
          `INSERT INTO ${table} (key_hash, key, token, fingerprint, fence, state, result, expires_at, keep_until)
         VALUES ($1, $2, 'owner', 'fp', 3, 'completed', $3, now() + interval '1 day', 'infinity')`,
          [keyHash(key), key, outcomes[i]],
        );
      }
      const columnType = async () =>
        (
          await pool.query(
            "SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'result'",
            [table],
          )
        ).rows[0]?.type;
      expect(await columnType()).toBe("bytea");

      await migrate(pool, names);
      expect(await columnType()).toBe("text");
      const store = createPostgresStore({ pool, ...names });
      const claim = { token: randomUUID(), fingerprint: "fp", leaseMs: 30_000, retentionMs: 60_000 };
      for (const [i, key] of keys.entries()) {
        const answer = await store.claim(key, claim);
        expect(answer.acquired).toBe(false);
        if (answer.acquired || answer.record.state !== "completed") throw new Error("expected a replay");
        expect(Buffer.from(answer.record.result).equals(outcomes[i] as Buffer)).toBe(true);
        expect(answer.record.fence).toBe(3);
      }

      await migrate(pool, names);
      const fresh = `new:${randomUUID()}`;
      expect(await store.claim(fresh, claim)).toEqual({ acquired: true, fence: 1, takeover: false });
      const bytes = randomBytes(1000);
      expect(await store.complete(fresh, claim.token, { result: bytes, retentionMs: 60_000 })).toBe(true);
      const replay = await store.get(fresh);
      expect(replay?.state === "completed" && Buffer.from(replay.result).equals(bytes)).toBe(true);
      const first = await store.get(keys[1] as string);
      expect(first?.state === "completed" && Buffer.from(first.result).equals(outcomes[1] as Buffer)).toBe(
        true,
      );
    });
  },
);

describe.skipIf(Boolean(skip))(titled("postgres: outcomes through the result column"), () => {
  let tables: Awaited<ReturnType<typeof freshTables>>;
  let pool: pg.Pool;
  beforeAll(async () => {
    tables = await freshTables("format");
    pool = newPool({ max: 2 });
  });
  afterAll(async () => {
    await pool?.end();
    await tables?.drop();
  });

  it.each([...EDGE_OUTCOMES, ["64 KiB of random bytes", randomBytes(65_536)] as [string, Buffer]])(
    "%s: claim and get give back its bytes; UTF-8 is stored as text, the rest as base64",
    async (_label, outcome) => {
      const store = createPostgresStore({ pool, ...tables.names });
      const key = `edge:${randomUUID()}`;
      const token = randomUUID();
      await store.claim(key, { token, fingerprint: "fp", leaseMs: 30_000, retentionMs: 60_000 });
      expect(await store.complete(key, token, { result: outcome, retentionMs: 60_000 })).toBe(true);
      const replay = await store.claim(key, {
        token: randomUUID(),
        fingerprint: "fp",
        leaseMs: 30_000,
        retentionMs: 60_000,
      });
      const read = await store.get(key);
      for (const record of [replay.acquired ? undefined : replay.record, read]) {
        expect(record?.state).toBe("completed");
        expect(record?.state === "completed" && Buffer.from(record.result).equals(outcome)).toBe(true);
      }
      const { table } = postgresStatements(tables.names);
      const { rows } = await pool.query(`SELECT left(result, 1) AS kind FROM ${table} WHERE key_hash = $1`, [
        keyHash(key),
      ]);
      expect(rows[0]?.kind).toBe(isUtf8(outcome) ? "t" : "b");
    },
  );
});
