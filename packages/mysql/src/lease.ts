import type { Pool, PoolConnection } from "mysql2/promise";
import { type Queryable, withPlainRows } from "./schema.js";

/** SERVER_STATUS_IN_TRANS, bit 1 of every OK packet's status: the session is inside a transaction. */
const IN_TRANSACTION = 1;

/** The error of a store statement that a pool connection without autocommit would have left uncommitted. */
export class AutocommitOffError extends Error {
  override readonly name = "AutocommitOffError";
}

const refusal = (what: string) =>
  new AutocommitOffError(
    `@idemkit/mysql: ${what}: the pool's connection runs with autocommit off (SET autocommit=0 on connect, ` +
      "init_connect, or the server's autocommit=0), so the store's writes would never commit; nothing was " +
      "kept. Give the store a pool whose sessions autocommit (or pass one connection in your own transaction)",
  );

/**
 * The pool as the store uses it: each statement leases a connection, runs, and is checked before the
 * connection goes back. A pool whose sessions have autocommit off would otherwise leave every claim and
 * completion in an open transaction that is never committed (lost when the connection ends) while the
 * store reported success, and hand that dirty connection to the next caller. So the store refuses rather
 * than COMMITting on its own: a session in a transaction may be the user's, not the store's to commit.
 * Each physical connection is checked once (`@@autocommit`, a round trip on its first lease, so that a
 * read cannot open a transaction either); every write's OK packet is checked each time (autocommit can
 * be switched off later): one in a transaction is rolled back and refused.
 */
export function leasedPool(pool: Pool): Queryable {
  const checked = new WeakSet<object>();
  const physical = (c: PoolConnection) => (c as unknown as { connection: object }).connection ?? c;

  async function run(
    kind: "query" | "execute",
    sql: string,
    values?: unknown,
  ): ReturnType<Queryable["query"]> {
    const connection = await pool.getConnection();
    let broken = false;
    try {
      const q = withPlainRows(connection as unknown as Queryable);
      if (!checked.has(physical(connection))) {
        const [rows] = await q.query("SELECT @@SESSION.autocommit AS autocommit");
        if (Number(rows[0]?.autocommit) !== 1) throw refusal("the session's autocommit is 0");
        checked.add(physical(connection));
      }
      const answer = await q[kind](sql, values);
      const status = (answer[0] as { serverStatus?: unknown } | null)?.serverStatus;
      if (typeof status === "number" && (status & IN_TRANSACTION) !== 0) {
        checked.delete(physical(connection));
        await connection.query("ROLLBACK").catch(() => {
          broken = true;
        });
        throw refusal("the store's write left the session in a transaction; rolled back");
      }
      return answer;
    } catch (error) {
      if ((error as { fatal?: unknown } | null)?.fatal === true) broken = true;
      throw error;
    } finally {
      if (broken) connection.destroy();
      else connection.release();
    }
  }
  return {
    query: (sql, values) => run("query", sql, values),
    execute: (sql, values) => run("execute", sql, values),
  };
}
