import { randomUUID } from "node:crypto";
import { createMySqlStore, migrate, quoteIdentifier } from "@idemkit/mysql";
import type { Pool, ResultSetHeader } from "mysql2/promise";
import { idemkitContender, RETENTION_MS } from "./idemkit.js";
import { sha256 } from "./memory.js";
import { type Contender, InFlightError, TAKEOVER_LEASE_MS } from "./types.js";

export async function mysqlIdemkit(pool: Pool, table: string): Promise<Contender> {
  await migrate(pool, { table });
  return idemkitContender("mysql", createMySqlStore({ pool, table }), async () => {
    await pool.query(`DROP TABLE IF EXISTS ${quoteIdentifier(table)}`);
  });
}

/** InnoDB's deadlock between concurrent inserts of one new key: the statement was rolled back, sent again. */
const ER_LOCK_DEADLOCK = 1213;

interface Row {
  acquired: number;
  done: number;
  fingerprint: string;
  result: string | null;
}

/**
 * The hand-written baseline on the same mysql2 pool (created with `multipleStatements`): one round trip
 * sends two statements. An `INSERT … ON DUPLICATE KEY UPDATE` claims the key when it is absent or its
 * deadline passed (every assignment conditional on that, `deadline` last, since each assignment sees the
 * ones before it) and leaves a live row as it is; the `SELECT` after it reads the row back, and
 * `claim_id` (a random id per call) says whether this call wrote it. MySQL has no `RETURNING` for this;
 * without the second statement a replay would cost a second round trip. One `UPDATE` completes it (no
 * owner check). A deadlock between concurrent inserts of one new key is retried, as InnoDB asks.
 */
export async function mysqlBaseline(pool: Pool, table: string): Promise<Contender> {
  const t = quoteIdentifier(table);
  await pool.query(`CREATE TABLE IF NOT EXISTS ${t} (
    k VARBINARY(255) PRIMARY KEY, claim_id CHAR(36) NOT NULL, done BOOLEAN NOT NULL,
    fingerprint CHAR(64) NOT NULL, result LONGTEXT, deadline DATETIME(3) NOT NULL) ENGINE = InnoDB`);
  const expired = "deadline <= UTC_TIMESTAMP(3)";
  const claimSql = `INSERT INTO ${t} (k, claim_id, done, fingerprint, result, deadline)
      VALUES (?, ?, FALSE, ?, NULL, UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND)
    ON DUPLICATE KEY UPDATE
      claim_id = IF(${expired}, VALUES(claim_id), claim_id),
      done = IF(${expired}, FALSE, done),
      fingerprint = IF(${expired}, VALUES(fingerprint), fingerprint),
      result = IF(${expired}, NULL, result),
      deadline = IF(${expired}, VALUES(deadline), deadline);
    SELECT claim_id = ? AS acquired, done, fingerprint, result FROM ${t} WHERE k = ?`;
  const complete = `UPDATE ${t} SET done = TRUE, result = ?,
    deadline = UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND WHERE k = ?`;

  const claim = async (key: string, fingerprint: string, leaseMs: number): Promise<Row> => {
    const id = randomUUID();
    for (let attempt = 1; attempt <= 20; attempt++) {
      try {
        const [results] = await pool.query(claimSql, [key, id, fingerprint, leaseMs * 1000, id, key]);
        const [, rows] = results as unknown as [ResultSetHeader, Row[]];
        // No row: another claim inserted it and its failed work deleted it in between; claim again.
        if (rows[0] !== undefined) return rows[0];
      } catch (error) {
        if ((error as { errno?: number }).errno !== ER_LOCK_DEADLOCK) throw error;
      }
    }
    throw new Error(`claim of ${key}: 20 attempts deadlocked or lost the row`);
  };

  return {
    name: "baseline",
    store: "mysql",
    async run(key, input, work) {
      const fingerprint = sha256(input);
      const row = await claim(key, fingerprint, 30_000);
      if (!row.acquired) {
        if (row.fingerprint !== fingerprint) throw new Error("fingerprint mismatch");
        if (!row.done) throw new InFlightError(key);
        return JSON.parse(row.result!);
      }
      let value: unknown;
      try {
        value = await work();
      } catch (error) {
        await pool.query(`DELETE FROM ${t} WHERE k = ?`, [key]);
        throw error;
      }
      await pool.query(complete, [JSON.stringify(value), RETENTION_MS * 1000, key]);
      return value;
    },
    async abandon(key, input) {
      await claim(key, sha256(input), TAKEOVER_LEASE_MS);
    },
    async close() {
      await pool.query(`DROP TABLE IF EXISTS ${t}`);
    },
  };
}
