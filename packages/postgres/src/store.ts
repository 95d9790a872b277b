import { createHash, randomUUID } from "node:crypto";
import {
  type ClaimRequest,
  type ClaimResult,
  type CompleteRequest,
  decodeStoreText,
  encodeStoreText,
  type IdempotencyRecord,
  type IdempotencyStore,
  type ListFilter,
  type ListPage,
  MAX_STORE_DURATION_MS,
  type TransactionalOutput,
  type TransactionalResult,
  type TransactionalStore,
  withLazyResult,
} from "@idemkit/core";
import type { ClientBase, Pool, PoolClient } from "pg";
import { createLister, listStatements } from "./list.js";
import { checkDuration, describe, integerOption, rejectUnknownOptions, stringOption } from "./options.js";
import { asBuffer, completionText, decodeOutcome, outcomeResultText, outcomeText } from "./outcome-text.js";
import { type PostgresTableOptions, postgresStatements, type Queryable, quoteIdentifier } from "./schema.js";
import { type IsolationLevel, runTransaction, type TransactionOptions } from "./transaction.js";

export interface PostgresStoreOptions extends PostgresTableOptions, TransactionOptions {
  /**
   * Your `pg` Pool. A connected Client or PoolClient works too (for example one inside your own
   * transaction: a claim never aborts it), but `transaction()` needs a Pool.
   */
  pool: Pool | ClientBase;
}

/**
 * What `transaction()` was given to claim with: the request's fingerprint, the retention of its outcome,
 * and optionally how long to wait for a transaction that holds the key (core's `TransactionalClaim`).
 */
export interface PostgresTransactionClaim {
  fingerprint: string;
  retentionMs: number;
  /**
   * The longest the claim waits, in milliseconds (an integer from 1 to 2147483647), for another
   * transaction that holds the key (it inserted the key row and has not committed or rolled back
   * yet). Past it the claim gives up (`lock_timeout`, SQLSTATE 55P03), the transaction rolls back, its
   * connection goes back to the pool at once, and `transaction()` resolves with
   * `{ acquired: false, busy: true }`. Without it the claim waits as long as the session's own
   * `lock_timeout` allows (by default, until the other transaction ends).
   */
  waitMs?: number;
  /** Called once per attempt, connected and in the transaction, just before the claim is sent. */
  onClaimSent?: () => void;
}

/**
 * The key is held by another transaction that did not end within `waitMs`. Its record cannot be read
 * until it commits; a retry later gets it (core answers 409, as for a key in progress).
 */
export interface PostgresTransactionBusy {
  acquired: false;
  busy: true;
  record?: undefined;
}

export interface PostgresStore extends IdempotencyStore, TransactionalStore<PoolClient> {
  /**
   * Transactional mode: on one client from the pool, BEGIN, write the key row, run `work` with that
   * client, store its outcome and COMMIT, so the key and your writes commit or roll back together.
   * A concurrent duplicate waits for the first to commit (then gets its record) or roll back (then
   * runs), at most `claim.waitMs` when given (then `{ acquired: false, busy: true }`).
   * Serialization failures and deadlocks re-run the whole attempt, `work` included.
   */
  transaction<T>(
    key: string,
    claim: PostgresTransactionClaim & { waitMs?: undefined },
    work: (context: { client: PoolClient; fence: number }) => Promise<TransactionalOutput<T>>,
    options?: TransactionOptions,
  ): Promise<TransactionalResult<T>>;
  transaction<T>(
    key: string,
    claim: PostgresTransactionClaim,
    work: (context: { client: PoolClient; fence: number }) => Promise<TransactionalOutput<T>>,
    options?: TransactionOptions,
  ): Promise<TransactionalResult<T> | PostgresTransactionBusy>;
  /**
   * Deletes up to `limit` (default 1000) rows whose retention has ended, skipping rows another
   * session holds: many instances may run it at once without waiting on each other. Returns the count.
   */
  purgeExpired(options?: { limit?: number }): Promise<number>;
  /** Live records, a page at a time, as summaries (see `IdempotencyStore.list`). */
  list(filter?: ListFilter): Promise<ListPage>;
  /** Resolves when the table can be read (a statement that reads no row). */
  ping(): Promise<void>;
}

/** A key as the `key` column holds it (core's `encodeStoreText`: `text` cannot hold NUL nor lone surrogates). */
export const encodeKey: (key: string) => string = encodeStoreText;
const decodeText = decodeStoreText;

/**
 * The primary key of a key's row: SHA-256 of the UTF-8 bytes of `encodeKey(key)`, 32 bytes whatever
 * the key's length (a btree entry is limited to about 2.7 kB, so long keys cannot be indexed as text).
 * `encodeKey` output is well-formed Unicode, so distinct keys hash distinct inputs. Operators can find a
 * row by key in SQL with `key_hash = sha256(convert_to('<encoded key>', 'UTF8'))` (UTF8 database).
 */
export function keyHash(key: string): Buffer {
  return createHash("sha256").update(encodeKey(key), "utf8").digest();
}

interface RecordRow {
  state: string;
  token: string;
  fingerprint: string;
  fence: string | number;
  deadline_ms: number;
  /** The outcome as text (outcome-text.ts): the `outcome` column, or "B" + `outcome_bytes` in base64. */
  outcome: string | null;
  takeover: boolean | null;
}

/**
 * Why a row read back cannot be a record, or `undefined` when it can. The table's types and checks
 * rule out most of what another program could write, but not these: a fence below 1 or past 2^53, a
 * deadline at +infinity (a key live for ever), a completed row without its outcome or with one the
 * store did not write (`decodeOutcome` refuses it). Such a row fails the call (core answers 503
 * for that key); every other key works as before.
 */
function malformed(row: RecordRow, outcome: Uint8Array | string | undefined): string | undefined {
  if (row.state !== "in_progress" && row.state !== "completed") return `state is ${describe(row.state)}`;
  const fence = Number(row.fence);
  if (!Number.isSafeInteger(fence) || fence < 1) return `fence is ${row.fence}`;
  if (typeof row.deadline_ms !== "number" || !Number.isFinite(row.deadline_ms)) {
    return `expires_at is ${row.deadline_ms === Number.POSITIVE_INFINITY ? "infinity" : describe(row.deadline_ms)}`;
  }
  if (row.state === "completed" && outcome === undefined) {
    return typeof row.outcome === "string" ? "outcome is not one the store encoded" : "outcome is NULL";
  }
  return undefined;
}

/** The row as a record, or a throw naming the key, what is wrong and the remedy (`malformed`). */
function readRow(operation: string, key: string, row: RecordRow): IdempotencyRecord {
  const stored = row.state === "completed" && typeof row.outcome === "string" ? row.outcome : undefined;
  // An ASCII outcome is handed on as its text; its bytes are built only if someone reads `result`,
  // which core's run() does not.
  const outcome = stored === undefined ? undefined : (outcomeResultText(stored) ?? decodeOutcome(stored));
  const why = malformed(row, outcome);
  if (why !== undefined) {
    throw new Error(
      `@idemkit/postgres: ${operation}: the row of key ${describe(key)} is not an idemkit record (${why}); ` +
        "fix it, or remove it with store.delete(key)",
    );
  }
  return toRecord(row, outcome ?? new Uint8Array());
}

/** Which of the completion's statements writes `outcome` (schema.ts), and the value it writes. */
function completionOf(
  completion: Record<"text" | "bytes", string>,
  outcome: CompleteRequest,
): [statement: string, written: string | Buffer] {
  const text = completionText(outcome) ?? outcomeText(outcome.result);
  return text === undefined ? [completion.bytes, asBuffer(outcome.result)] : [completion.text, text];
}

/** `outcome`: a completed row's outcome, as bytes or as result text (for a lazy `result`). */
function toRecord(row: RecordRow, outcome: Uint8Array | string): IdempotencyRecord {
  const { token } = row;
  const fingerprint = decodeText(row.fingerprint);
  const fence = Number(row.fence);
  if (row.state === "completed") {
    const expiresAt = row.deadline_ms;
    if (typeof outcome !== "string")
      return { state: "completed", token, fingerprint, fence, result: outcome, expiresAt };
    return withLazyResult({ state: "completed" as const, token, fingerprint, fence, expiresAt }, outcome);
  }
  const takeover = row.takeover === true;
  return { state: "in_progress", token, fingerprint, fence, leaseExpiresAt: row.deadline_ms, takeover };
}

/**
 * An idemkit store over your `pg` Pool. Run `migrate(pool, options)` (or the SQL of
 * `postgresSchemaSql(options)`) once before use.
 */
export function createPostgresStore(options: PostgresStoreOptions): PostgresStore {
  const checked = checkOptions(options);
  const sql = postgresStatements(options);
  const db: Queryable = options.pool;
  const operator = listStatements(sql.table);

  /**
   * One call of the claim function, which returns exactly one row: the acquisition, or the live
   * record. `waitMs` bounds its lock wait (transactional mode); a lock wait that runs out rejects
   * with SQLSTATE 55P03.
   */
  async function claimOn(
    q: Queryable,
    operation: string,
    key: string,
    claim: ClaimRequest,
    waitMs?: number,
  ): Promise<ClaimResult> {
    const { token, fingerprint, leaseMs, retentionMs } = claim;
    const encoded = encodeKey(key);
    const hash = createHash("sha256").update(encoded, "utf8").digest();
    // The fingerprint is escaped as keys are (encodeKey): `text` cannot hold NUL, and a lone surrogate
    // would come back as U+FFFD. Core's own fingerprints (lowercase hex) are stored as they are.
    const values = [hash, encoded, token, encodeKey(fingerprint), leaseMs, retentionMs];
    const text = waitMs === undefined ? sql.claim : sql.claimWaiting;
    if (waitMs !== undefined) values.push(waitMs);
    let rows: (RecordRow & { acquired: boolean })[];
    try {
      ({ rows } = await q.query(text, values));
    } catch (error) {
      if (waitMs !== undefined && (error as { code?: unknown }).code === "42883") {
        throw new Error(
          `@idemkit/postgres: ${sql.claimFunction}(…, integer), the claim with a bounded lock wait, is ` +
            "missing: run migrate() (or the SQL of postgresSchemaSql()) for this version",
          { cause: error },
        );
      }
      throw error;
    }
    // The function returns a row on every path: step 1 and step 3 read the live record, step 2 the
    // acquisition. Step 3 runs only after an INSERT ... ON CONFLICT DO UPDATE ... WHERE expired found
    // the key live; PostgreSQL locks that conflicting row before it tests the WHERE and keeps the
    // lock when the test fails, so nobody can delete or change it before step 3 reads it, and that
    // read's fresh snapshot sees it (the lock was granted only once its writer had committed; at
    // REPEATABLE READ a row outside the snapshot fails with 40001 instead). The retry this code once
    // had for "an empty answer seen once in ~6 runs of 50 concurrent takeovers" hid no cause that
    // could be reproduced (none in ~500 runs of that race, nor in 60,000 claims racing deletes,
    // purges, releases and completions): an empty answer now says plainly that something is wrong
    // with the function in the database, and fails closed.
    const row = rows[0];
    if (row === undefined) {
      throw new Error(
        `@idemkit/postgres: ${operation}: ${sql.claimFunction} returned no row; it always returns one. ` +
          "Is it the function migrate() installs for this version?",
      );
    }
    return row.acquired
      ? { acquired: true, fence: Number(row.fence), takeover: row.takeover === true }
      : { acquired: false, record: readRow(operation, key, row) };
  }

  async function completeOn(q: Queryable, key: string, token: string, outcome: CompleteRequest) {
    const [statement, written] = completionOf(q === db ? sql.complete : sql.completeOwn, outcome);
    return (await q.query(statement, [keyHash(key), token, written, outcome.retentionMs])).rowCount === 1;
  }

  const store: PostgresStore = {
    async claim(key, claim) {
      checkDuration("claim", "leaseMs", claim.leaseMs, true);
      checkDuration("claim", "retentionMs", claim.retentionMs, false);
      return claimOn(db, "claim", key, claim);
    },

    async complete(key, token, outcome) {
      checkDuration("complete", "retentionMs", outcome.retentionMs, false);
      return completeOn(db, key, token, outcome);
    },

    async release(key, token) {
      return (await db.query(sql.release, [keyHash(key), token])).rowCount === 1;
    },

    async extend(key, token, leaseMs) {
      checkDuration("extend", "leaseMs", leaseMs, true);
      return (await db.query(sql.extend, [keyHash(key), token, leaseMs])).rowCount === 1;
    },

    async get(key) {
      const { rows } = await db.query(sql.get, [keyHash(key)]);
      return rows[0] ? readRow("get", key, rows[0]) : undefined;
    },

    async delete(key) {
      const { rows } = await db.query(sql.delete, [keyHash(key)]);
      return rows[0]?.live === true;
    },

    async purgeExpired({ limit = 1000 } = {}) {
      return (await db.query(sql.purge, [limit])).rowCount ?? 0;
    },

    list: createLister(db, operator),

    async ping() {
      await db.query(operator.ping);
    },

    // One implementation of both overloads: `busy` only ever comes back when `waitMs` was given.
    transaction: async function transaction<T>(
      key: string,
      claim: PostgresTransactionClaim,
      work: (context: { client: PoolClient; fence: number }) => Promise<TransactionalOutput<T>>,
      overrides?: TransactionOptions,
    ): Promise<TransactionalResult<T> | PostgresTransactionBusy> {
      const pool = options.pool;
      if (!("totalCount" in pool && "idleCount" in pool)) {
        throw new TypeError("@idemkit/postgres: transaction() needs a pg Pool, not a client");
      }
      const { fingerprint, retentionMs, waitMs, onClaimSent } = claim;
      checkDuration("transaction", "retentionMs", retentionMs, true);
      integerOption("transaction: waitMs", waitMs, 1, 2 ** 31 - 1); // lock_timeout is an int of ms
      const given = overrides === undefined ? {} : checkTransactionOptions("transaction", overrides);
      const level: IsolationLevel = given.isolationLevel ?? checked.isolationLevel ?? "read committed";
      const maxRetries = given.maxRetries ?? checked.maxRetries ?? 3;
      return runTransaction<TransactionalResult<T> | PostgresTransactionBusy>(
        pool,
        { isolationLevel: level, maxRetries },
        async (client) => {
          // The row is invisible to others until COMMIT, so its lease never matters to them; to its own
          // transaction it must not end before the work does, however long: unbounded (the longest
          // duration). It commits completed, kept the retention from then (completeOwn), or not at all.
          const token = randomUUID();
          onClaimSent?.();
          let claimed: ClaimResult;
          try {
            claimed = await claimOn(
              client,
              "transaction",
              key,
              { token, fingerprint, leaseMs: MAX_STORE_DURATION_MS, retentionMs: 0 },
              waitMs,
            );
          } catch (error) {
            // The key's row is held by a transaction that has not ended within waitMs: in progress.
            // Rolled back at once (the transaction is aborted), and its connection returned.
            if (waitMs !== undefined && (error as { code?: unknown }).code === "55P03") {
              return { commit: false, result: { acquired: false, busy: true } };
            }
            throw error;
          }
          if (!claimed.acquired) return { commit: false, result: claimed };
          const { fence } = claimed;
          const output = await work({ client, fence });
          if (!output.commit)
            return {
              commit: false,
              result: { acquired: true, fence, value: output.value, committed: false },
            };
          if (!(await completeOn(client, key, token, { result: output.result, retentionMs }))) {
            throw new Error("@idemkit/postgres: the key row was lost inside its own transaction");
          }
          return { commit: true, result: { acquired: true, fence, value: output.value, committed: true } };
        },
      );
    } as PostgresStore["transaction"],
  };
  // complete writes core's result text (completionText): a JSON outcome's bytes are never built. Not
  // enumerable: a copy (`{ ...store, complete }`) whose complete reads `result` does not inherit it.
  return Object.defineProperty(store, "completesWithText", {
    value: true,
    writable: true,
    configurable: true,
  });
}

const ISOLATION_LEVELS: readonly IsolationLevel[] = ["read committed", "repeatable read", "serializable"];
const TRANSACTION_OPTION_NAMES = ["isolationLevel", "maxRetries"];
const OPTION_NAMES = ["pool", "table", "schema", ...TRANSACTION_OPTION_NAMES];

/** `isolationLevel` and `maxRetries`, checked (of the store, or of one `transaction()` call). */
function checkTransactionOptions(where: string, options: TransactionOptions): TransactionOptions {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`@idemkit/postgres: ${where} options must be an object; got ${describe(options)}`);
  }
  const { isolationLevel } = options;
  if (isolationLevel !== undefined && !ISOLATION_LEVELS.includes(isolationLevel)) {
    throw new TypeError(
      `@idemkit/postgres: isolationLevel must be one of ${ISOLATION_LEVELS.map((l) => `"${l}"`).join(", ")}; ` +
        `got ${describe(isolationLevel)}`,
    );
  }
  return { isolationLevel, maxRetries: integerOption("maxRetries", options.maxRetries, 0, 100) };
}

/** The options, checked: each failure names the option and what it accepts (TypeError / RangeError). */
function checkOptions(options: PostgresStoreOptions): TransactionOptions {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `@idemkit/postgres: createPostgresStore needs an options object with \`pool\`; got ${describe(options)}`,
    );
  }
  rejectUnknownOptions("createPostgresStore", options, OPTION_NAMES);
  const pool = options.pool as unknown;
  if (typeof pool !== "object" || pool === null || typeof (pool as Queryable).query !== "function") {
    throw new TypeError(
      `@idemkit/postgres: pool must be a pg Pool or a connected Client; got ${describe(pool)}`,
    );
  }
  // Names PostgreSQL can hold whole (the claim function is `<table>_claim`, in the same schema).
  for (const [name, identifier] of [
    ["table", options.table === undefined ? undefined : `${stringOption("table", options.table)}_claim`],
    ["schema", stringOption("schema", options.schema)],
  ] as const) {
    if (options[name] === "") throw new TypeError(`@idemkit/postgres: ${name} must not be empty`);
    try {
      if (identifier !== undefined) quoteIdentifier(identifier);
    } catch (error) {
      throw new TypeError(
        `@idemkit/postgres: ${name}: ${(error as Error).message.replace(/^@idemkit\/postgres: /, "")}`,
      );
    }
  }
  return checkTransactionOptions("createPostgresStore", options);
}
