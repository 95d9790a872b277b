import { randomUUID } from "node:crypto";
import type {
  ClaimRequest,
  ClaimResult,
  CompleteRequest,
  IdempotencyRecord,
  IdempotencyStore,
  ListFilter,
  ListPage,
  SynchronousCalls,
  TransactionalOutput,
  TransactionalResult,
} from "@idemkit/core";
import BetterSqlite3 from "better-sqlite3";
import { createLister } from "./list.js";
import {
  booleanOption,
  checkDuration,
  describe,
  functionOption,
  integerOption,
  rejectUnknownOptions,
  stringOption,
} from "./options.js";
import { blob, malformed, malformedRow, RELEASED, type Row, readRow, toRecord } from "./row.js";
import { DEFAULT_TABLE, migrate, quoteIdentifier } from "./schema.js";
import { prepareStatements } from "./statements.js";

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
  /** Create the table on open, if it does not exist. Default `true`; with `false`, run `sqliteSchema()` yourself first. */
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
  /** Live records, a page at a time, as summaries (see `IdempotencyStore.list`). */
  list(filter?: ListFilter): Promise<ListPage>;
  /** Resolves when the table can be read (a statement that reads no row). */
  ping(): Promise<void>;
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

/** Thrown inside a transaction to roll it back when `work` returns `commit: false`. */
class Rollback<T> {
  constructor(
    readonly value: T,
    readonly fence: number,
  ) {}
}

/** SQLite's answer when a lock stayed taken past the busy timeout (better-sqlite3's `SqliteError` code). */
const isBusy = (error: unknown) =>
  String((error as { code?: unknown } | null)?.code).startsWith("SQLITE_BUSY");

/** Rounds of write and read one claim may take before it gives up (see `claim`). */
const MAX_CLAIM_ROUNDS = 100;

/**
 * An idemkit store on SQLite through better-sqlite3. A claim that writes is one conditional upsert
 * (`INSERT … ON CONFLICT DO UPDATE … WHERE expired RETURNING`), atomic under the database's write
 * lock across every connection and process sharing the file; a claim that finds a live row reads it
 * (first, or after the upsert: `readFirst`). Deadlines use the wall clock (`Date.now()`), the one
 * clock every process sharing the file reads alike; a forward step of it ends live leases early (see
 * the README, "Several processes").
 */
export function createSqliteStore(options: SqliteStoreOptions): SqliteStore {
  const checked = checkOptions(options);
  const owned = typeof options.database === "string";
  const db: Database = owned
    ? new BetterSqlite3(options.database as string, { timeout: checked.busyTimeoutMs ?? 5000 })
    : (options.database as Database);
  const table = checked.table ?? DEFAULT_TABLE;
  const now = checked.now ?? Date.now;
  const purgeEvery = checked.purgeEvery ?? 1000;
  let claimsSincePurge = 0;
  let closed = false;

  let statements: ReturnType<typeof prepareStatements>;
  try {
    if (!owned && checked.busyTimeoutMs !== undefined) db.pragma(`busy_timeout = ${checked.busyTimeoutMs}`);
    if (checked.wal ?? owned) db.pragma("journal_mode = WAL");
    if (checked.createSchema ?? true) migrate(db, table);
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
    probe,
    batchEnd,
    purgeRange,
  } = statements;
  const list = createLister(db, quoteIdentifier(table), now);
  const purgeBatch = 4 * purgeEvery;
  let purgedUpTo = 0; // the rowid the next purge step starts after

  /** One purge step: the next `purgeBatch` rows after the cursor; past the last row, back to the start. */
  function purgeSome(at: number): void {
    const end = batchEnd.get(purgedUpTo, purgeBatch - 1) as number | undefined;
    purgeRange.run({ after: purgedUpTo, end: end ?? Number.MAX_SAFE_INTEGER, now: at });
    purgedUpTo = end ?? 0;
  }

  /**
   * Which statement a claim tries first. The conditional write makes a new key or a takeover one
   * statement; the read makes a replay or a conflict one, and takes no write lock. Each costs the other
   * kind one statement more (a replay's failed write costs more than a new key's read: measured, bench
   * README). The last claim's answer picks the next: new keys come in streams, retries in bursts.
   */
  let readFirst = false;

  /** The key's live record at `at`, `undefined` when it has none; a row that is no record throws. */
  function liveRecord(key: string, at: number): IdempotencyRecord | undefined {
    const row = select.get(key) as Row | undefined;
    if (row === undefined) return undefined;
    // A row the conditional write could never match (an expires_at that is text, say) would send the
    // claim's synchronous loop round for ever, and stop the whole process with it.
    const why = malformed(row);
    if (why !== undefined) throw malformedRow("claim", key, why);
    return row.expires_at > at ? toRecord(row) : undefined;
  }

  /**
   * Reads the row; if it is live returns it, else writes an in_progress row with the next fence,
   * kept `retentionMs` past its lease end.
   */
  function claimRow(key: string, token: string, fingerprint: string, leaseMs: number, retentionMs: number) {
    const at = now();
    const row = select.get(key) as Row | undefined;
    const why = row && malformed(row);
    if (why !== undefined) throw malformedRow("transactionSync", key, why);
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
      now: at,
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
      const until = now() + claim.retentionMs;
      finish.run(blob(output.result), until, until, key);
      return { acquired: true as const, fence: taken.fence, value: output.value, committed: true };
    },
  );

  /** `claim`, settled as it returns (`synchronousCalls`). */
  function claimNow(key: string, claim: ClaimRequest): ClaimResult {
    const { token, fingerprint, leaseMs, retentionMs } = claim;
    checkDuration("claim", "leaseMs", leaseMs, true);
    checkDuration("claim", "retentionMs", retentionMs, false);
    if (purgeEvery > 0 && ++claimsSincePurge >= purgeEvery) {
      claimsSincePurge = 0;
      purgeSome(now());
    }
    // Kept the retention past the lease end, however the two compare (store.ts, ClaimRequest).
    const keepMs = leaseMs + retentionMs;
    try {
      if (readFirst) {
        const found = liveRecord(key, now());
        if (found) return { acquired: false, record: found };
      }
      for (let attempt = 1; ; attempt++) {
        const at = now();
        // Absent or expired: one conditional write under the write lock decides. It returns nothing
        // when a live row is there (a replay, a conflict), or one the write must not touch; then that
        // row is read.
        let won: number | undefined;
        try {
          won = claimIfFree.get(key, token, fingerprint, at + leaseMs, at + keepMs, at) as typeof won;
        } catch (error) {
          // Another connection kept the write lock past the busy timeout. A replay or a conflict needs
          // no write: the live row answers it. Anything else fails as the write did.
          const found = isBusy(error) ? liveRecord(key, at) : undefined;
          if (found === undefined) throw error;
          readFirst = true;
          return { acquired: false, record: found };
        }
        if (won !== undefined) {
          readFirst = false;
          return won > 0
            ? { acquired: true, fence: won, takeover: false }
            : { acquired: true, fence: -won, takeover: true };
        }
        const found = liveRecord(key, at);
        if (found) {
          readFirst = true;
          return { acquired: false, record: found };
        }
        // The live row was gone when read (released, expired or deleted in between): claim again,
        // bounded all the same, so nothing unforeseen can spin here (the outcome is unknown: reject).
        if (attempt >= MAX_CLAIM_ROUNDS) {
          throw new Error(
            `@idemkit/sqlite: claim: the row of key ${describe(key)} changed between every write and read ` +
              `${MAX_CLAIM_ROUNDS} times in a row`,
          );
        }
      }
    } catch (error) {
      // A failed claim's next one reads first: no write lock to wait for if it is a replay.
      readFirst = true;
      throw error;
    }
  }

  /** `complete`, settled as it returns (`synchronousCalls`). */
  function completeNow(key: string, token: string, outcome: CompleteRequest): boolean {
    checkDuration("complete", "retentionMs", outcome.retentionMs, false);
    const at = now();
    const until = at + outcome.retentionMs;
    return complete.run(blob(outcome.result), until, until, key, token, at).changes === 1;
  }

  const store: SqliteStore = {
    database: db,

    async claim(key, claim) {
      return claimNow(key, claim);
    },

    async complete(key, token, outcome) {
      return completeNow(key, token, outcome);
    },

    async release(key, token) {
      return release.run({ key, token, now: now() }).changes === 1;
    },

    async extend(key, token, leaseMs) {
      checkDuration("extend", "leaseMs", leaseMs, true);
      const at = now();
      return extend.run({ key, token, now: at, expiresAt: at + leaseMs }).changes === 1;
    },

    async get(key) {
      const row = select.get(key) as Row | undefined;
      if (row === undefined) return undefined;
      const record = readRow("get", key, row);
      return row.expires_at > now() ? record : undefined;
    },

    async delete(key) {
      const row = remove.get(key) as { expires_at: number } | undefined;
      return row !== undefined && row.expires_at > now();
    },

    list,

    async ping() {
      probe.get();
    },

    async purgeExpired() {
      return purge.run(now()).changes;
    },

    transactionSync<T>(
      key: string,
      claim: { fingerprint: string; retentionMs: number },
      work: SyncTransactionalWork<T>,
    ): TransactionalResult<T> {
      checkDuration("transactionSync", "retentionMs", claim.retentionMs, false);
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
  // better-sqlite3 is synchronous: every call above has settled when it returns (a busy wait blocks
  // the thread, where no timer of core's could run anyway), so core times none of them. Not
  // enumerable: a copy (`{ ...store, claim }`) whose methods may not settle so does not inherit it.
  // The same calls without a promise each, for core (store.ts, `synchronousCalls`).
  const synchronousCalls: SynchronousCalls = {
    claim: claimNow,
    complete: completeNow,
    claimMethod: store.claim,
    completeMethod: store.complete,
  };
  return Object.defineProperties(store, {
    settlesOnReturn: { value: true, writable: true, configurable: true },
    synchronousCalls: { value: synchronousCalls, writable: true, configurable: true },
  });
}

const OPTION_NAMES = ["database", "table", "busyTimeoutMs", "wal", "createSchema", "purgeEvery", "now"];

/** The options, checked: each failure names the option and what it accepts (TypeError / RangeError). */
function checkOptions(options: SqliteStoreOptions) {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `@idemkit/sqlite: createSqliteStore needs an options object with \`database\`; got ${describe(options)}`,
    );
  }
  rejectUnknownOptions("createSqliteStore", options, OPTION_NAMES);
  const { database } = options as { database: unknown };
  if (
    typeof database !== "string" &&
    (typeof database !== "object" ||
      database === null ||
      typeof (database as Database).prepare !== "function")
  ) {
    throw new TypeError(
      `@idemkit/sqlite: database must be a better-sqlite3 Database or a filename; got ${describe(database)}`,
    );
  }
  const table = stringOption("table", options.table);
  if (table === "" || table?.includes("\u0000")) {
    throw new TypeError(
      `@idemkit/sqlite: table must be a non-empty name without NUL; got ${describe(table)}`,
    );
  }
  return {
    table,
    // SQLite's busy timeout is a C int of milliseconds.
    busyTimeoutMs: integerOption("busyTimeoutMs", options.busyTimeoutMs, 0, 2 ** 31 - 1),
    wal: booleanOption("wal", options.wal),
    createSchema: booleanOption("createSchema", options.createSchema),
    purgeEvery: integerOption("purgeEvery", options.purgeEvery, 0, 2 ** 31 - 1),
    now: functionOption<() => number>("now", options.now),
  };
}
