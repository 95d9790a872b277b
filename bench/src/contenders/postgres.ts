import { createPostgresStore, migrate } from "@idemkit/postgres";
import type { Pool } from "pg";
import { idemkitContender, RETENTION_MS } from "./idemkit.js";
import { sha256 } from "./memory.js";
import { type Contender, InFlightError, TAKEOVER_LEASE_MS } from "./types.js";

export async function postgresIdemkit(pool: Pool, table: string): Promise<Contender> {
  await migrate(pool, { table });
  return idemkitContender("postgres", createPostgresStore({ pool, table }), () =>
    dropIdemkitTable(pool, table),
  );
}

/** Drops an idemkit table and its claim function's overloads (with and without a lock wait), of any build. */
export async function dropIdemkitTable(pool: Pool, table: string): Promise<void> {
  await pool.query(`DROP TABLE IF EXISTS "${table}";
    DO $$ DECLARE f regprocedure; BEGIN
      FOR f IN SELECT oid::regprocedure FROM pg_proc WHERE proname = '${table}_claim' LOOP
        EXECUTE 'DROP FUNCTION ' || f;
      END LOOP;
    END $$`);
}

/**
 * The hand-written baseline on the same pg Pool: one statement returns the live row if there is one
 * (one round trip, no lock, for a replay) and otherwise claims the key when it is absent or its lease
 * ended (`INSERT … ON CONFLICT DO UPDATE … WHERE expired RETURNING`); one `UPDATE` completes it (no
 * owner check). A first version used only the upsert: `ON CONFLICT DO UPDATE` locks the row even
 * when its `WHERE` is false, so every replay became a write transaction (7× slower than idemkit).
 */
export async function postgresBaseline(pool: Pool, table: string): Promise<Contender> {
  const t = `"${table}"`;
  await pool.query(`CREATE TABLE IF NOT EXISTS ${t} (
    key text PRIMARY KEY, done boolean NOT NULL, fingerprint text NOT NULL, result text,
    deadline timestamptz NOT NULL)`);
  // A live row is read without a lock; only an absent or expired key is written.
  const claim = `WITH live AS (
      SELECT done, fingerprint, result FROM ${t} WHERE key = $1 AND deadline > now()),
    ins AS (
      INSERT INTO ${t} AS b (key, done, fingerprint, result, deadline)
      SELECT $1, false, $2, NULL, now() + $3 * interval '1 millisecond' WHERE NOT EXISTS (SELECT 1 FROM live)
      ON CONFLICT (key) DO UPDATE SET done = false, fingerprint = excluded.fingerprint, result = NULL,
        deadline = excluded.deadline WHERE b.deadline <= now()
      RETURNING 1)
    SELECT true AS acquired, NULL::boolean AS done, NULL AS fingerprint, NULL AS result FROM ins
    UNION ALL
    SELECT false, done, fingerprint, result FROM live`;
  const complete = `UPDATE ${t} SET done = true, result = $2,
    deadline = now() + $3 * interval '1 millisecond' WHERE key = $1`;
  return {
    name: "baseline",
    store: "postgres",
    async run(key, input, work) {
      const fingerprint = sha256(input);
      const { rows } = await pool.query(claim, [key, fingerprint, 30_000]);
      const row = rows[0];
      if (!row?.acquired) {
        // No row: a concurrent claim holds the key uncommitted or just committed (in flight).
        if (!row?.done) throw new InFlightError(key);
        if (row.fingerprint !== fingerprint) throw new Error("fingerprint mismatch");
        return JSON.parse(row.result);
      }
      let value: unknown;
      try {
        value = await work();
      } catch (error) {
        await pool.query(`DELETE FROM ${t} WHERE key = $1`, [key]);
        throw error;
      }
      await pool.query(complete, [key, JSON.stringify(value), RETENTION_MS]);
      return value;
    },
    async abandon(key, input) {
      await pool.query(claim, [key, sha256(input), TAKEOVER_LEASE_MS]);
    },
    async close() {
      await pool.query(`DROP TABLE IF EXISTS ${t}`);
    },
  };
}
