import { randomUUID } from "node:crypto";
import {
  type ClaimResult,
  type CompleteRequest,
  type IdempotencyStore,
  type ListFilter,
  type ListPage,
  MAX_STORE_DURATION_MS,
  type TransactionalOutput,
  type TransactionalResult,
  type TransactionalStore,
} from "@idemkit/core";
import type { Connection, Pool, PoolConnection } from "mysql2/promise";
import { type ClaimTarget, claimOn, wholeMs } from "./claim.js";
import { keyHash } from "./key.js";
import { leasedPool } from "./lease.js";
import { createLister } from "./list.js";
import {
  checkBytes,
  checkDuration,
  checkStoreOptions,
  checkText,
  checkTransactionOptions,
  describe,
  integerOption,
} from "./options.js";
import { packetLimit } from "./packet-limit.js";
import { type RecordRow, readRow } from "./records.js";
import { retryLostRaces } from "./retry.js";
import {
  DEFAULT_TABLE,
  type MySqlTableOptions,
  mysqlStatements,
  type Queryable,
  withPlainRows,
} from "./schema.js";
import { tableCheck } from "./table-check.js";
import { runTransaction, type TransactionOptions } from "./transaction.js";

export interface MySqlStoreOptions extends MySqlTableOptions, TransactionOptions {
  /**
   * Your `mysql2/promise` Pool (never ended by the store). A connection works too (for example one in
   * your own transaction), but then a deadlock is not retried: the server rolled back your whole
   * transaction, so the call rejects and your code retries the transaction. `transaction()` needs a Pool.
   */
  pool: Pool | PoolConnection | Connection;
}

/**
 * What `transaction()` was given to claim with: the request's fingerprint, the retention of its outcome,
 * and optionally how long to wait for a transaction that holds the key (core's `TransactionalClaim`).
 */
export interface MySqlTransactionClaim {
  fingerprint: string;
  retentionMs: number;
  /**
   * The longest the claim waits, in milliseconds (an integer from 1 to 2147483647), for another
   * transaction that holds the key (it wrote the key row and has not committed or rolled back yet).
   * InnoDB counts lock waits in whole seconds: the wait is `innodb_lock_wait_timeout`, set to `waitMs`
   * rounded up to a second for the claim alone. Past it the transaction rolls back, its connection goes
   * back to the pool, and `transaction()` resolves with `{ acquired: false, busy: true }`. Without it
   * the claim waits as long as the session's `innodb_lock_wait_timeout` (50 s by default), then rejects.
   */
  waitMs?: number;
  /** Called once per attempt, connected and in the transaction, just before the claim is sent. */
  onClaimSent?: () => void;
}

/** The key is held by another transaction that did not end within `waitMs` (core answers 409). */
export interface MySqlTransactionBusy {
  acquired: false;
  busy: true;
  record?: undefined;
}

type Work<T> = (context: { client: PoolConnection; fence: number }) => Promise<TransactionalOutput<T>>;

export interface MySqlStore extends IdempotencyStore, TransactionalStore<PoolConnection> {
  /**
   * Deletes up to `limit` (default 1000) rows past their keep-until time (expired, and no longer needed
   * for fencing), oldest first. Returns the count.
   */
  purgeExpired(options?: { limit?: number }): Promise<number>;
  /** Live records, a page at a time, as summaries (see `IdempotencyStore.list`). */
  list(filter?: ListFilter): Promise<ListPage>;
  /** Resolves when the table can be read (a statement that reads no row). */
  ping(): Promise<void>;
  /**
   * Transactional mode: on one connection from the pool, START TRANSACTION, write the key row, run
   * `work` with that connection (as `client`), store its outcome and COMMIT, so the key and your writes
   * commit or roll back together. A concurrent duplicate waits for the first to commit (then gets its
   * record) or roll back (then runs), at most `claim.waitMs` when given (then `busy`). Deadlocks re-run
   * the whole attempt, `work` included.
   */
  transaction<T>(
    key: string,
    claim: MySqlTransactionClaim & { waitMs?: undefined },
    work: Work<T>,
    options?: TransactionOptions,
  ): Promise<TransactionalResult<T>>;
  transaction<T>(
    key: string,
    claim: MySqlTransactionClaim,
    work: Work<T>,
    options?: TransactionOptions,
  ): Promise<TransactionalResult<T> | MySqlTransactionBusy>;
}

/** ER_LOCK_WAIT_TIMEOUT: a lock wait ran past `innodb_lock_wait_timeout`. */
const LOCK_WAIT_TIMEOUT = 1205;

/**
 * The bytes as a Buffer over the same memory, which mysql2 sends as a hexadecimal literal; a Buffer as it
 * is (core's stored responses are), since making one costs ~6,000 instructions (bench HISTORY,
 * thirty-second round), unless it is empty: one whose memory was transferred away reads as empty, and
 * the wrapping throws rather than sending it as an empty outcome.
 */
export const asBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) && bytes.byteLength !== 0
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/**
 * An idemkit store over your `mysql2/promise` Pool, for MySQL 8 and MariaDB 10.11 or later. Run
 * `migrate(pool, options)` (or the SQL of `mysqlSchemaSql(options)`) once before use.
 */
export function createMySqlStore(options: MySqlStoreOptions): MySqlStore {
  const checked = checkStoreOptions(options);
  const sql = mysqlStatements(options);
  // Every statement goes as text (mysql2's query(), binary values as X'…' literals): one round trip each.
  // execute() prepares a statement on each connection's first use of it, a round trip more, which under
  // latency pushed claims and completions past core's storeTimeoutMs (the chaos suite's delay fault).
  // On a pool every statement runs on its own (autocommit, checked: see leasedPool): a deadlocked one can
  // simply run again.
  const isPool = typeof (options.pool as Partial<Pool>).getConnection === "function";
  const db = isPool ? leasedPool(options.pool as Pool) : withPlainRows(options.pool as unknown as Queryable);
  const packets = packetLimit(db);
  const onPool: ClaimTarget = { sql, db, retry: isPool, packets };
  const run = (text: string, values: unknown[]) => retryLostRaces(isPool, () => db.query(text, values));
  const affected = async (text: string, values: unknown[]) => (await run(text, values))[0].affectedRows;

  const checkTable = tableCheck(db, options.table ?? DEFAULT_TABLE);

  async function completeOn(q: Queryable, key: string, token: string, outcome: CompleteRequest) {
    checkBytes(q === db ? "complete" : "transaction", outcome.result);
    await packets.outcome(q === db ? "complete" : "transaction", outcome.result.byteLength);
    const retention = wholeMs(outcome.retentionMs);
    const values = [asBuffer(outcome.result), retention, retention, keyHash(key), Buffer.from(token)];
    const statement = q === db ? sql.complete : sql.completeOwn;
    const [result] = await retryLostRaces(q === db && isPool, () => q.query(statement, values));
    return result.affectedRows === 1;
  }

  return {
    async claim(key, claim) {
      checkText("claim", "key", key);
      checkText("claim", "token", claim.token);
      checkText("claim", "fingerprint", claim.fingerprint);
      checkDuration("claim", "leaseMs", claim.leaseMs, true);
      checkDuration("claim", "retentionMs", claim.retentionMs, false);
      await checkTable();
      return claimOn(onPool, "claim", key, claim);
    },

    async complete(key, token, outcome) {
      checkText("complete", "key", key);
      checkText("complete", "token", token);
      checkDuration("complete", "retentionMs", outcome.retentionMs, false);
      return completeOn(db, key, token, outcome);
    },

    async release(key, token) {
      return (await affected(sql.release, [keyHash(key), Buffer.from(token)])) === 1;
    },

    async extend(key, token, leaseMs) {
      checkDuration("extend", "leaseMs", leaseMs, true);
      const lease = wholeMs(leaseMs);
      return (await affected(sql.extend, [lease, lease, keyHash(key), Buffer.from(token)])) === 1;
    },

    async get(key) {
      const rows: RecordRow[] = (await run(sql.get, [keyHash(key)]))[0];
      return rows[0] ? readRow("get", key, rows[0]) : undefined;
    },

    /**
     * Removes the row whatever its state; `true` when it was live. Without DELETE ... RETURNING, the live
     * row is deleted first, then a kept one; if neither was there but the row is (it became live in
     * between), again.
     */
    async delete(key) {
      const hash = keyHash(key);
      for (let round = 0; round < 100; round++) {
        if ((await affected(sql.deleteLive, [hash])) === 1) return true;
        if ((await affected(sql.deleteKept, [hash])) === 1) return false;
        const rows: unknown[] = (await run(sql.kept, [hash]))[0];
        if (rows.length === 0) return false;
      }
      throw new Error(`@idemkit/mysql: delete: the row of key ${describe(key)} kept changing`);
    },

    async purgeExpired({ limit = 1000 } = {}) {
      integerOption("purgeExpired: limit", limit, 1, 2 ** 31 - 1);
      const [result] = await retryLostRaces(isPool, () => db.query(sql.purge(limit)));
      return result.affectedRows;
    },

    list: createLister(run, sql),

    async ping() {
      await db.query(sql.ping);
    },

    // One implementation of both overloads: `busy` only ever comes back when `waitMs` was given.
    transaction: async function transaction<T>(
      key: string,
      claim: MySqlTransactionClaim,
      work: Work<T>,
      overrides?: TransactionOptions,
    ): Promise<TransactionalResult<T> | MySqlTransactionBusy> {
      if (!isPool) throw new TypeError("@idemkit/mysql: transaction() needs a mysql2 Pool, not a connection");
      const { fingerprint, retentionMs, waitMs, onClaimSent } = claim;
      checkText("transaction", "key", key);
      checkText("transaction", "fingerprint", fingerprint);
      checkDuration("transaction", "retentionMs", retentionMs, true);
      integerOption("transaction: waitMs", waitMs, 1, 2 ** 31 - 1);
      const given = overrides === undefined ? {} : checkTransactionOptions("transaction", overrides);
      const isolationLevel = given.isolationLevel ?? checked.isolationLevel;
      const maxRetries = given.maxRetries ?? checked.maxRetries ?? 3;
      await checkTable();
      return runTransaction<TransactionalResult<T> | MySqlTransactionBusy>(
        options.pool as Pool,
        { isolationLevel, maxRetries },
        async (connection) => {
          const q = withPlainRows(connection as unknown as Queryable);
          // The row is invisible to others until COMMIT, so its lease never matters to them; to its own
          // transaction it must not end before the work does, however long: unbounded (the longest
          // duration). It commits completed, kept the retention from then (completeOwn), or not at all.
          const token = randomUUID();
          if (waitMs !== undefined) {
            await q.query(
              `SET @idemkit_lock_wait = @@SESSION.innodb_lock_wait_timeout, SESSION innodb_lock_wait_timeout = ${Math.ceil(waitMs / 1000)}`,
            );
          }
          onClaimSent?.();
          let claimed: ClaimResult | undefined;
          let failure: unknown;
          try {
            const request = { token, fingerprint, leaseMs: MAX_STORE_DURATION_MS, retentionMs: 0 };
            claimed = await claimOn({ sql, db: q, retry: false, packets }, "transaction", key, request);
          } catch (error) {
            failure = error;
          }
          if (waitMs !== undefined) {
            // The pooled session keeps its own lock wait for everything after the claim. A timed-out
            // lock wait ends the claim's statement only (innodb_rollback_on_timeout is off by default).
            await q.query("SET SESSION innodb_lock_wait_timeout = @idemkit_lock_wait").catch((error) => {
              failure ??= error; // the claim's own error, if any, says more
            });
          }
          if (failure !== undefined || claimed === undefined) {
            // The key's row is held by a transaction that has not ended within waitMs: in progress.
            if (waitMs !== undefined && (failure as { errno?: unknown }).errno === LOCK_WAIT_TIMEOUT) {
              return { commit: false, result: { acquired: false, busy: true } };
            }
            throw failure;
          }
          if (!claimed.acquired) return { commit: false, result: claimed };
          const { fence } = claimed;
          const output = await work({ client: connection, fence });
          if (!output.commit) {
            return {
              commit: false,
              result: { acquired: true, fence, value: output.value, committed: false },
            };
          }
          if (!(await completeOn(q, key, token, { result: output.result, retentionMs }))) {
            throw new Error("@idemkit/mysql: the key row was lost inside its own transaction");
          }
          return { commit: true, result: { acquired: true, fence, value: output.value, committed: true } };
        },
      );
    } as MySqlStore["transaction"],
  };
}
