/** Where the store keeps its rows. */
export interface MySqlTableOptions {
  /** Table name, in the pool's database. Default `idemkit_keys`. */
  table?: string;
}

export const DEFAULT_TABLE = "idemkit_keys";

/** MySQL and MariaDB refuse longer identifiers (64 characters). */
const MAX_IDENTIFIER_CHARACTERS = 64;

/**
 * Quotes an identifier for SQL text: doubles embedded backticks, rejects what MySQL cannot name (empty,
 * NUL, trailing whitespace, a character outside the Basic Multilingual Plane, more than 64 characters).
 */
export function quoteIdentifier(name: string): string {
  // MySQL refuses a name that ends in whitespace (a tab included), not only a space.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is exactly what MySQL refuses
  if (name.length === 0 || /\u0000|[\uD800-\uDFFF]/.test(name) || /[ \t\n\v\f\r]$/.test(name)) {
    throw new TypeError(`@idemkit/mysql: invalid identifier ${JSON.stringify(name)}`);
  }
  if (name.length > MAX_IDENTIFIER_CHARACTERS) {
    throw new TypeError(
      `@idemkit/mysql: identifier longer than ${MAX_IDENTIFIER_CHARACTERS} characters: ${name}`,
    );
  }
  return `\`${name.replaceAll("`", "``")}\``;
}

/**
 * The server's clock in whole milliseconds since the epoch, floored. `UTC_TIMESTAMP(6)` is read once per
 * statement (at its start, like `NOW()`), so every use in one statement sees the same instant, and it does
 * not depend on the session's time zone (`UNIX_TIMESTAMP(NOW(3))` would, and repeats an hour at the end
 * of summer time).
 */
export const NOW_MS = "(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) DIV 1000)";

/** The `expires_at` of a released row: long past on any clock, and told apart from an expired lease. */
export const RELEASED = -9_007_199_254_740_991;

/**
 * The highest fence a claim can report: its answer's insert id is fence × 2 + takeover, a safe integer
 * (2^53 − 1 at most) once read. A row at this fence is not taken over (its next fence could not be said).
 */
export const MAX_FENCE = 2 ** 52 - 1;

/** A duration parameter (mysql2 sends numbers as DOUBLE; the store sends whole milliseconds). */
const MS = "CAST(? AS SIGNED)";

/** The columns a read returns; numbers as text, so no pool setting can round them. */
const RECORD = `state, token, fingerprint, CAST(fence AS CHAR) AS fence, CAST(expires_at AS CHAR) AS deadline,
  result, takeover`;

/** The quoted table name and the SQL text of every statement the store runs. */
export function mysqlStatements(options: MySqlTableOptions = {}) {
  const t = quoteIdentifier(options.table ?? DEFAULT_TABLE);
  const expired = `expires_at <= ${NOW_MS}`;
  // An in_progress lease that ran out without a release: replacing it is a takeover.
  const replacedLease = `(state = 'in_progress' AND expires_at > ${RELEASED})`;
  // A row the store can read back (as records.ts does): the claim never writes over one it cannot.
  const readable = `(state IN ('in_progress', 'completed') AND fence BETWEEN 1 AND ${MAX_FENCE - 1}
    AND expires_at >= ${RELEASED} AND (state = 'in_progress' OR result IS NOT NULL))`;
  // The first assignment decides, and says so with LAST_INSERT_ID(expr); the others read that decision
  // back (LAST_INSERT_ID() returns the value just set, in the same statement) rather than evaluate the
  // condition again on columns they have already changed.
  const taken = "LAST_INSERT_ID() > 0";
  const ownedLive = `key_hash = ? AND token = ? AND state = 'in_progress' AND expires_at > ${NOW_MS}`;
  const schemaSql = `CREATE TABLE IF NOT EXISTS ${t} (
  key_hash    BINARY(32) NOT NULL,    -- SHA-256 of the escaped key's UTF-8: bytes compare exactly, any length fits
  key_text    LONGBLOB NOT NULL,      -- the key's UTF-8 (escaped: see encodeKey); for operators, not indexed
  token       VARBINARY(64) NOT NULL,
  fingerprint LONGBLOB NOT NULL,      -- UTF-8, escaped as the key is
  fence       BIGINT NOT NULL,
  state       VARCHAR(11) CHARACTER SET ascii COLLATE ascii_bin NOT NULL, -- 'in_progress' or 'completed'
  result      LONGBLOB NULL,          -- the outcome; LONGBLOB, since BLOB stops at 64 KiB
  expires_at  BIGINT NOT NULL,        -- ms since the epoch, server clock: lease or retention end; ${RELEASED} once released
  keep_until  BIGINT NOT NULL,        -- the row and its fence may be purged after this (lease end + retention)
  takeover    BOOLEAN NOT NULL DEFAULT FALSE, -- the claim that wrote the row replaced an expired lease
  claimed_at  BIGINT NOT NULL DEFAULT 0, -- ms since the epoch, server clock: when the claim that wrote the row acquired it
  PRIMARY KEY (key_hash),
  KEY keep_until_idx (keep_until)
) ENGINE = InnoDB`;

  return {
    table: t,
    schemaSql,
    /**
     * The claim, one atomic statement: inserts the key, or takes over a row whose lease or retention has
     * ended, and that it can read, with the next fence; a live row, or one it cannot read, is left as it is
     * (every assignment keeps its value). Its answer's insert id says which, through LAST_INSERT_ID(expr),
     * which sets it for the statement without an AUTO_INCREMENT column (or triggers: see table-check.ts):
     * fence × 2 + takeover when it took the key, 0 when it left it (the VALUES are evaluated on both paths,
     * the update's own call overrides theirs). `affectedRows` could not tell: mysql2 connects with
     * CLIENT_FOUND_ROWS, under which an insert and an untouched row both count 1. `takeover` is assigned
     * first, reading the old row, and decides for all (`taken`). Parameters: key hash, key text, token,
     * fingerprint, lease, lease, retention; then token, fingerprint, lease, retention, lease.
     */
    claim: `INSERT INTO ${t}
  (key_hash, key_text, token, fingerprint, fence, state, result, expires_at, keep_until, takeover, claimed_at)
VALUES (?, ?, ?, ?, 1, 'in_progress', NULL, ${NOW_MS} + ${MS}, ${NOW_MS} + ${MS} + ${MS},
  0 * LAST_INSERT_ID(2), ${NOW_MS})
ON DUPLICATE KEY UPDATE
  takeover    = IF(${expired} AND ${readable},
                   ${replacedLease} + 0 * LAST_INSERT_ID((fence + 1) * 2 + ${replacedLease}),
                   takeover + 0 * LAST_INSERT_ID(0)),
  token       = IF(${taken}, ?, token),
  fingerprint = IF(${taken}, ?, fingerprint),
  fence       = IF(${taken}, fence + 1, fence),
  state       = IF(${taken}, 'in_progress', state),
  result      = IF(${taken}, NULL, result),
  claimed_at  = IF(${taken}, ${NOW_MS}, claimed_at),
  keep_until  = IF(${taken}, ${NOW_MS} + ${MS} + ${MS}, keep_until),
  expires_at  = IF(${taken}, ${NOW_MS} + ${MS}, expires_at)`,
    /**
     * A losing claim's read of the row it left, live or not (`live`: an expired row it left is one it
     * cannot read). A locking read, so that inside a caller's REPEATABLE READ transaction it sees the
     * latest committed row, not the transaction's snapshot. Parameter: key hash.
     */
    claimed: `SELECT ${RECORD}, expires_at > ${NOW_MS} AS live FROM ${t} WHERE key_hash = ? LOCK IN SHARE MODE`,
    /** Parameters: result, retention, retention, key hash, token. */
    complete: `UPDATE ${t} SET state = 'completed', result = ?,
  keep_until = GREATEST(keep_until, ${NOW_MS} + ${MS}), expires_at = ${NOW_MS} + ${MS}
  WHERE ${ownedLive}`,
    /**
     * Transactional mode's completion, in the claim's own transaction: the row's lease was unbounded (it
     * is invisible until COMMIT), so its keep-until is set to the retention's end rather than kept.
     */
    completeOwn: `UPDATE ${t} SET state = 'completed', result = ?,
  keep_until = ${NOW_MS} + ${MS}, expires_at = ${NOW_MS} + ${MS}
  WHERE ${ownedLive}`,
    // Release ends the lease but keeps the row, and its fence, until keep_until: the next fence is higher.
    release: `UPDATE ${t} SET expires_at = ${RELEASED} WHERE ${ownedLive}`,
    // keep_until moves as far as the lease end (assigned first, so it reads the old expires_at).
    extend: `UPDATE ${t} SET keep_until = keep_until + ((${NOW_MS} + ${MS}) - expires_at),
  expires_at = ${NOW_MS} + ${MS} WHERE ${ownedLive}`,
    get: `SELECT ${RECORD} FROM ${t} WHERE key_hash = ? AND expires_at > ${NOW_MS}`,
    // Operator purge, in up to three steps (MySQL has no DELETE ... RETURNING): see the store's delete.
    deleteLive: `DELETE FROM ${t} WHERE key_hash = ? AND expires_at > ${NOW_MS}`,
    deleteKept: `DELETE FROM ${t} WHERE key_hash = ? AND expires_at <= ${NOW_MS}`,
    kept: `SELECT 1 AS kept FROM ${t} WHERE key_hash = ?`,
    /**
     * `list`: live rows in key-hash order after `?` (a hash, or an empty string for the start), by state
     * (`?` twice), claim age (`?` twice) and a prefix of the escaped key's bytes (`?` twice: `LEFT` of a
     * binary string counts bytes, so no character is a pattern). `limit` is an integer the store checked.
     */
    list: (limit: number) =>
      `SELECT key_text, state, CAST(fence AS CHAR) AS fence, CAST(claimed_at AS CHAR) AS claimed,
  CAST(expires_at AS CHAR) AS deadline, HEX(key_hash) AS hash FROM ${t}
  WHERE key_hash > ? AND expires_at > ${NOW_MS} AND (? IS NULL OR state = ?)
    AND (? IS NULL OR claimed_at <= ${NOW_MS} - ${MS}) AND LEFT(key_text, LENGTH(?)) = ?
  ORDER BY key_hash LIMIT ${limit}`,
    /** Reads no row: `ping` proves the table can be read. */
    ping: `SELECT 1 FROM ${t} LIMIT 0`,
    /** `limit` is an integer the store checked (a placeholder in LIMIT fails on some servers under mysql2). */
    purge: (limit: number) =>
      `DELETE FROM ${t} WHERE keep_until <= ${NOW_MS} AND expires_at <= ${NOW_MS}
  ORDER BY keep_until LIMIT ${limit}`,
  };
}

/** The DDL of the store (its table and purge index), for your own migration tool. Idempotent. */
export function mysqlSchemaSql(options: MySqlTableOptions = {}): string {
  return mysqlStatements(options).schemaSql;
}

/** Anything that runs a statement: a mysql2/promise Pool, PoolConnection or Connection. */
export interface Queryable {
  // biome-ignore lint/suspicious/noExplicitAny: mysql2's own parameter and result types, which vary by version
  execute(sql: string, values?: any): Promise<[any, unknown]>;
  // biome-ignore lint/suspicious/noExplicitAny: as above
  query(sql: string, values?: any): Promise<[any, unknown]>;
}

/** What the store's reads rely on, whatever the pool was created with: rows as objects, mysql2's own types. */
const ROW_OPTIONS = { rowsAsArray: false, nestTables: false, typeCast: true };

type WithOptions = (options: object, values?: unknown) => Promise<[unknown, unknown]>;

/** `q` with every statement run under `ROW_OPTIONS` (mysql2 takes them per statement, over the pool's). */
export function withPlainRows(q: Queryable): Queryable {
  return {
    execute: (sql, values) => (q.execute as unknown as WithOptions).call(q, { sql, ...ROW_OPTIONS }, values),
    query: (sql, values) => (q.query as unknown as WithOptions).call(q, { sql, ...ROW_OPTIONS }, values),
  };
}

/** Creates the store's table and its purge index, if missing. Safe to run concurrently and repeatedly. */
export async function migrate(
  pool: Pick<Queryable, "query">,
  options: MySqlTableOptions = {},
): Promise<void> {
  await pool.query(mysqlStatements(options).schemaSql);
}
