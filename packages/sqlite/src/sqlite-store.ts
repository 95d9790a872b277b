import { randomUUID } from "node:crypto";
import type {
  CompleteRequest,
  IdempotencyRecord,
  IdempotencyStore,
  TransactionalOutput,
  TransactionalResult,
} from "@idemkit/core";
import BetterSqlite3 from "better-sqlite3";
import { DEFAULT_TABLE, migrate, quoteIdentifier } from "./schema.js";

type Database = BetterSqlite3.Database;

export interface SqliteStoreOptions {
  /**
   * Your better-sqlite3 `Database` (the store never closes it), or a filename the store opens
   * itself, in WAL mode, and closes in `close()`.
   */
  database: Database | string;
  /** Table name, quoted as one identifier. Default `idemkit_keys`. */
  table?: string;
  /**
   * `PRAGMA busy_timeout` in ms: how long a writer waits for another connection's write lock
   * before failing with `SQLITE_BUSY`. Default 5000 when the store opens the file; on your own
   * `Database` it is set only when given (better-sqlite3's `timeout` option already defaults to 5000).
   */
  busyTimeoutMs?: number;
  /** Set `PRAGMA journal_mode = WAL`. Default `true` when the store opens the file, else untouched. */
  wal?: boolean;
  /** Create (or upgrade) the table on open. Default `true`; with `false`, run `sqliteSchema()` yourself first. */
  createSchema?: boolean;
  /**
   * Every this many claims (per store), look at the next `4 × purgeEvery` rows in rowid order,
   * round and round the table, and delete those past their keep-until time: the table stays
   * bounded at O(1) cost per claim, with no index to keep up on every write. Default 1000; 0 disables.
   */
  purgeEvery?: number;
  /** Clock in ms since the epoch; injectable for tests. Default `Date.now`. */
  now?: () => number;
}

/** The work of a synchronous transactional run: it runs inside the store's IMMEDIATE transaction. */
export type SyncTransactionalWork<T> = (context: {
  client: Database;
  fence: number;
}) => TransactionalOutput<T>;

export interface SqliteStore extends IdempotencyStore {
  /** The connection the store uses (yours, or the one it opened). */
  readonly database: Database;
  /** Deletes rows past their keep-until time (expired and no longer needed for fencing). Returns the count. */
  purgeExpired(): Promise<number>;
  /**
   * Transactional mode (docs/design.md#transactional), synchronous: in one `BEGIN IMMEDIATE` transaction on
   * `database` (a savepoint if you are already in one), returns the live record if the key has one
   * (nothing runs); otherwise claims the key, runs `work` and stores its `result` with
   * `retentionMs`. A throw or `commit: false` rolls back the key and `work`'s writes together.
   * `work` must be synchronous and must write through `client`.
   */
  transactionSync<T>(
    key: string,
    claim: { fingerprint: string; retentionMs: number },
    work: SyncTransactionalWork<T>,
  ): TransactionalResult<T>;
  close(): Promise<void>;
}

interface Row {
  state: "in_progress" | "completed";
  token: string;
  fingerprint: string;
  fence: number;
  result: Uint8Array | null;
  expires_at: number;
  takeover: number;
}

/** Thrown inside a transaction to roll it back when `work` returns `commit: false`. */
class Rollback<T> {
  constructor(
    readonly value: T,
    readonly fence: number,
  ) {}
}

const EMPTY = new Uint8Array(0);

/** The `expires_at` of a released row: long past on any clock, so it reads as absent at once. */
const RELEASED = Number.MIN_SAFE_INTEGER;

/** A plain Uint8Array view (not a Buffer, whose `slice` shares memory) of what SQLite returned. */
function bytes(blob: Uint8Array | null): Uint8Array {
  return blob ? new Uint8Array(blob.buffer, blob.byteOffset, blob.byteLength) : EMPTY.slice();
}

/** better-sqlite3 binds Buffers as BLOBs; wrap without copying. */
function blob(data: Uint8Array): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function toRecord(row: Row): IdempotencyRecord {
  const { token, fingerprint, fence } = row;
  return row.state === "completed"
    ? { state: "completed", token, fingerprint, fence, result: bytes(row.result), expiresAt: row.expires_at }
    : {
        state: "in_progress",
        token,
        fingerprint,
        fence,
        leaseExpiresAt: row.expires_at,
        takeover: row.takeover === 1,
      };
}

/** Every statement the store runs, prepared once; `t` is the quoted table name. */
function prepareStatements(db: Database, t: string) {
  // Integers as numbers even if the user's Database has `defaultSafeIntegers(true)`.
  const prepare = (sql: string) => db.prepare(sql).safeIntegers(false);
  const owner = "key = @key AND state = 'in_progress' AND token = @token AND expires_at > @now";
  const toCompleted =
    "state = 'completed', result = @result, expires_at = @expiresAt, keep_until = MAX(keep_until, @expiresAt)";
  return {
    select: prepare(
      `SELECT state, token, fingerprint, fence, result, expires_at, takeover FROM ${t} WHERE key = ?`,
    ),
    upsert: prepare(
      `INSERT INTO ${t} (key, state, token, fingerprint, fence, result, expires_at, keep_until, takeover)
       VALUES (@key, 'in_progress', @token, @fingerprint, @fence, NULL, @expiresAt, @keepUntil, @takeover)
       ON CONFLICT (key) DO UPDATE SET state = 'in_progress', token = excluded.token,
         fingerprint = excluded.fingerprint, fence = excluded.fence, result = NULL,
         expires_at = excluded.expires_at, keep_until = excluded.keep_until, takeover = excluded.takeover`,
    ),
    /**
     * The claim in one autocommit statement (atomic under SQLite's write lock): inserts the key, or
     * takes over a row whose lease or retention has ended, with the next fence; a live row is left
     * alone and nothing is returned. The SET expressions read the row as it was before the update.
     */
    claimIfFree: prepare(
      `INSERT INTO ${t} (key, state, token, fingerprint, fence, result, expires_at, keep_until, takeover)
       VALUES (@key, 'in_progress', @token, @fingerprint, 1, NULL, @expiresAt, @keepUntil, 0)
       ON CONFLICT (key) DO UPDATE SET state = 'in_progress', token = excluded.token,
         fingerprint = excluded.fingerprint, fence = fence + 1, result = NULL,
         expires_at = excluded.expires_at, keep_until = excluded.keep_until,
         takeover = CASE WHEN state = 'in_progress' AND expires_at <> ${RELEASED} THEN 1 ELSE 0 END
       WHERE expires_at <= @now
       RETURNING fence, takeover`,
    ),
    /** Compare-and-set completion by the owner token. */
    complete: prepare(`UPDATE ${t} SET ${toCompleted} WHERE ${owner}`),
    /** Completion inside transactionSync, which holds the write lock since its own claim. */
    finish: prepare(`UPDATE ${t} SET ${toCompleted} WHERE key = @key`),
    /** Moves keep_until as far as the lease end: the row stays kept the claim's retention past it. */
    extend: prepare(
      `UPDATE ${t} SET expires_at = @expiresAt, keep_until = keep_until + (@expiresAt - expires_at)
       WHERE ${owner}`,
    ),
    /** Ends the lease but keeps the row (and its fence) until keep_until, so the next fence is higher. */
    release: prepare(`UPDATE ${t} SET expires_at = ${RELEASED} WHERE ${owner}`),
    remove: prepare(`DELETE FROM ${t} WHERE key = ? RETURNING expires_at`),
    purge: prepare(`DELETE FROM ${t} WHERE keep_until <= ?`),
    /** The last rowid of the next batch of rows after `after` (none when fewer rows are left). */
    batchEnd: prepare(`SELECT rowid FROM ${t} WHERE rowid > ? ORDER BY rowid LIMIT 1 OFFSET ?`).pluck(),
    purgeRange: prepare(`DELETE FROM ${t} WHERE rowid > @after AND rowid <= @end AND keep_until <= @now`),
  };
}

/**
 * An idemkit store on SQLite through better-sqlite3. A claim that writes is one conditional upsert
 * (`INSERT … ON CONFLICT DO UPDATE … WHERE expired RETURNING`), atomic under the database's write
 * lock across every connection and process sharing the file; a claim that finds a live row only
 * reads it. Deadlines use the wall clock (`Date.now()`), the one clock every process sharing the file
 * reads alike; a forward step of it ends live leases early (see the README, "Several processes").
 */
export function createSqliteStore(options: SqliteStoreOptions): SqliteStore {
  const owned = typeof options.database === "string";
  const db: Database = owned
    ? new BetterSqlite3(options.database as string, { timeout: options.busyTimeoutMs ?? 5000 })
    : (options.database as Database);
  const table = options.table ?? DEFAULT_TABLE;
  const now = options.now ?? Date.now;
  const purgeEvery = options.purgeEvery ?? 1000;
  let claimsSincePurge = 0;
  let closed = false;

  let statements: ReturnType<typeof prepareStatements>;
  try {
    if (!owned && options.busyTimeoutMs !== undefined) {
      db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs))}`);
    }
    if (options.wal ?? owned) db.pragma("journal_mode = WAL");
    if (options.createSchema ?? true) migrate(db, table);
    statements = prepareStatements(db, quoteIdentifier(table));
  } catch (error) {
    if (owned) db.close();
    throw error;
  }
  const {
    select,
    upsert,
    claimIfFree,
    complete,
    finish,
    extend,
    release,
    remove,
    purge,
    batchEnd,
    purgeRange,
  } = statements;
  const purgeBatch = 4 * purgeEvery;
  let purgedUpTo = 0; // the rowid the next purge step starts after

  /** One purge step: the next `purgeBatch` rows after the cursor; past the last row, back to the start. */
  function purgeSome(at: number): void {
    const end = batchEnd.get(purgedUpTo, purgeBatch - 1) as number | undefined;
    purgeRange.run({ after: purgedUpTo, end: end ?? Number.MAX_SAFE_INTEGER, now: at });
    purgedUpTo = end ?? 0;
  }

  /**
   * Reads the row; if it is live returns it, else writes an in_progress row with the next fence,
   * kept `retentionMs` past its lease end.
   */
  function claimRow(key: string, token: string, fingerprint: string, leaseMs: number, retentionMs: number) {
    const at = now();
    const row = select.get(key) as Row | undefined;
    if (row && row.expires_at > at) return { acquired: false as const, record: toRecord(row) };
    // An expired row still counts for the fence, so a takeover always gets a higher one.
    const fence = (row?.fence ?? 0) + 1;
    // A takeover replaces a lease that ran out; a released row (expires_at = RELEASED) or a
    // completed one past retention is no takeover. Read under the same write lock as the upsert.
    const takeover = row?.state === "in_progress" && row.expires_at !== RELEASED;
    const keepUntil = at + leaseMs + retentionMs;
    // Stored with the row, so a claim retried with the same token (lost reply) reads it back.
    upsert.run({
      key,
      token,
      fingerprint,
      fence,
      expiresAt: at + leaseMs,
      keepUntil,
      takeover: takeover ? 1 : 0,
    });
    return { acquired: true as const, fence, takeover };
  }

  const transactionTx = db.transaction(
    (
      key: string,
      claim: { fingerprint: string; retentionMs: number },
      work: SyncTransactionalWork<unknown>,
    ) => {
      // Nobody else sees this row before commit, so its lease only has to outlast `work`; it is
      // committed completed (kept for the retention from then) or not at all.
      const taken = claimRow(key, randomUUID(), claim.fingerprint, claim.retentionMs, 0);
      if (!taken.acquired) return taken;
      const output = work({ client: db, fence: taken.fence });
      if (typeof (output as unknown as PromiseLike<unknown>)?.then === "function") {
        throw new TypeError("transactionSync: work must be synchronous (it returned a promise)");
      }
      if (!output.commit) throw new Rollback(output.value, taken.fence);
      finish.run({ key, result: blob(output.result), expiresAt: now() + claim.retentionMs });
      return { acquired: true as const, fence: taken.fence, value: output.value, committed: true };
    },
  );

  return {
    database: db,

    async claim(key, claim) {
      if (purgeEvery > 0 && ++claimsSincePurge >= purgeEvery) {
        claimsSincePurge = 0;
        purgeSome(now());
      }
      const { token, fingerprint, leaseMs } = claim;
      // Kept the retention past the lease end, however the two compare (store.ts, ClaimRequest).
      const keepMs = leaseMs + claim.retentionMs;
      for (;;) {
        const at = now();
        // A live row means the claim writes nothing: reading it (one consistent snapshot) is the
        // whole claim, with no write lock taken (a replay or a conflict is one statement).
        const row = select.get(key) as Row | undefined;
        if (row && row.expires_at > at) return { acquired: false, record: toRecord(row) };
        // Absent or expired: one conditional write under the write lock decides. It returns nothing
        // only if another connection claimed the key since the read; then read again.
        const won = claimIfFree.get({
          key,
          token,
          fingerprint,
          now: at,
          expiresAt: at + leaseMs,
          keepUntil: at + keepMs,
        }) as { fence: number; takeover: number } | undefined;
        if (won) return { acquired: true, fence: won.fence, takeover: won.takeover === 1 };
      }
    },

    async complete(key: string, token: string, outcome: CompleteRequest) {
      const at = now();
      const params = {
        key,
        token,
        now: at,
        result: blob(outcome.result),
        expiresAt: at + outcome.retentionMs,
      };
      return complete.run(params).changes === 1;
    },

    async release(key, token) {
      return release.run({ key, token, now: now() }).changes === 1;
    },

    async extend(key, token, leaseMs) {
      const at = now();
      return extend.run({ key, token, now: at, expiresAt: at + leaseMs }).changes === 1;
    },

    async get(key) {
      const row = select.get(key) as Row | undefined;
      return row && row.expires_at > now() ? toRecord(row) : undefined;
    },

    async delete(key) {
      const row = remove.get(key) as { expires_at: number } | undefined;
      return row !== undefined && row.expires_at > now();
    },

    async purgeExpired() {
      return purge.run(now()).changes;
    },

    transactionSync<T>(
      key: string,
      claim: { fingerprint: string; retentionMs: number },
      work: SyncTransactionalWork<T>,
    ): TransactionalResult<T> {
      try {
        return transactionTx.immediate(key, claim, work) as TransactionalResult<T>;
      } catch (error) {
        if (error instanceof Rollback)
          return { acquired: true, fence: error.fence, value: error.value, committed: false };
        throw error;
      }
    },

    async close() {
      if (owned && !closed) db.close();
      closed = true;
    },
  };
}
