// The SQL of every statement the store runs.
import type { Database, Statement } from "better-sqlite3";
import { RELEASED } from "./row.js";

/** The store's statements, by name. */
type StatementName =
  | "select"
  | "upsert"
  | "claimIfFree"
  | "complete"
  | "finish"
  | "extend"
  | "release"
  | "remove"
  | "purge"
  | "probe"
  | "batchEnd"
  | "purgeRange";

/**
 * `malformed` (row.ts) in SQL, for a row whose `expires_at` is not above a number: text and blobs sort
 * above every number, so only a finite one (not -Infinity) is left to check; a fence may be a whole REAL
 * (a column typed DOUBLE keeps 1.0), which JavaScript reads as a whole number.
 */
const WELL_FORMED = `expires_at > -9e999 AND typeof(token) = 'text' AND typeof(fingerprint) = 'text'
  AND typeof(fence) IN ('integer', 'real') AND fence = CAST(fence AS INTEGER)
  AND fence BETWEEN 1 AND ${Number.MAX_SAFE_INTEGER}
  AND CASE state WHEN 'in_progress' THEN takeover IN (0, 1) WHEN 'completed' THEN typeof(result) = 'blob'
    ELSE 0 END`;

/** Every statement the store runs, prepared once; `t` is the quoted table name. */
export function prepareStatements(db: Database, t: string): Record<StatementName, Statement> {
  // Integers as numbers even if the user's Database has `defaultSafeIntegers(true)`.
  const prepare = (sql: string) => db.prepare(sql).safeIntegers(false);
  const owner = "key = @key AND state = 'in_progress' AND token = @token AND expires_at > @now";
  // Positional: result, expires_at, expires_at again.
  const toCompleted = "state = 'completed', result = ?, expires_at = ?, keep_until = MAX(keep_until, ?)";
  return {
    select: prepare(
      `SELECT state, token, fingerprint, fence, result, expires_at, takeover FROM ${t} WHERE key = ?`,
    ),
    upsert: prepare(
      `INSERT INTO ${t} (key, state, token, fingerprint, fence, result, expires_at, keep_until, takeover, claimed_at)
       VALUES (@key, 'in_progress', @token, @fingerprint, @fence, NULL, @expiresAt, @keepUntil, @takeover, @now)
       ON CONFLICT (key) DO UPDATE SET state = 'in_progress', token = excluded.token,
         fingerprint = excluded.fingerprint, fence = excluded.fence, result = NULL,
         expires_at = excluded.expires_at, keep_until = excluded.keep_until, takeover = excluded.takeover,
         claimed_at = excluded.claimed_at`,
    ),
    /**
     * The claim in one autocommit statement (atomic under SQLite's write lock): inserts the key, or
     * takes over a row whose lease or retention has ended, with the next fence; a live row is left
     * alone and nothing is returned. The SET expressions read the row as it was before the update.
     * It takes exactly the ended rows `malformed` (row.ts) accepts, `WELL_FORMED` below: one it refuses
     * is left alone, and the claim reads it and names it, whichever statement it ran first (`fence + 1`
     * on text would also start the fences at 1 again); one it accepts is never read as ended and then
     * refused by the write.
     * Positional parameters, as in `complete` (a few µs less per new key than named ones, measured):
     * key, token, fingerprint, expires_at, keep_until, now. Returns one number, not a row object: the
     * fence, negated for a takeover (a fence is at least 1).
     */
    claimIfFree: prepare(
      `INSERT INTO ${t} (key, state, token, fingerprint, fence, result, expires_at, keep_until, takeover, claimed_at)
       VALUES (?, 'in_progress', ?, ?, 1, NULL, ?, ?, 0, ?)
       ON CONFLICT (key) DO UPDATE SET state = 'in_progress', token = excluded.token,
         fingerprint = excluded.fingerprint, fence = fence + 1, result = NULL,
         expires_at = excluded.expires_at, keep_until = excluded.keep_until, claimed_at = excluded.claimed_at,
         takeover = CASE WHEN state = 'in_progress' AND expires_at <> ${RELEASED} THEN 1 ELSE 0 END
       WHERE expires_at <= excluded.claimed_at AND ${WELL_FORMED}
       RETURNING CASE takeover WHEN 1 THEN -fence ELSE fence END`,
    ).pluck(),
    /** Compare-and-set completion by the owner token: `toCompleted`'s, then key, token, now. */
    complete: prepare(
      `UPDATE ${t} SET ${toCompleted} WHERE key = ? AND state = 'in_progress' AND token = ? AND expires_at > ?`,
    ),
    /** Completion inside transactionSync, which holds the write lock since its own claim. */
    finish: prepare(`UPDATE ${t} SET ${toCompleted} WHERE key = ?`),
    /** Moves keep_until as far as the lease end: the row stays kept the claim's retention past it. */
    extend: prepare(
      `UPDATE ${t} SET expires_at = @expiresAt, keep_until = keep_until + (@expiresAt - expires_at)
       WHERE ${owner}`,
    ),
    /** Ends the lease but keeps the row (and its fence) until keep_until, so the next fence is higher. */
    release: prepare(`UPDATE ${t} SET expires_at = ${RELEASED} WHERE ${owner}`),
    remove: prepare(`DELETE FROM ${t} WHERE key = ? RETURNING expires_at`),
    purge: prepare(`DELETE FROM ${t} WHERE keep_until <= ?`),
    /** Reads no row: `ping` proves the table can be read. */
    probe: prepare(`SELECT 1 FROM ${t} LIMIT 0`),
    /** The last rowid of the next batch of rows after `after` (none when fewer rows are left). */
    batchEnd: prepare(`SELECT rowid FROM ${t} WHERE rowid > ? ORDER BY rowid LIMIT 1 OFFSET ?`).pluck(),
    purgeRange: prepare(`DELETE FROM ${t} WHERE rowid > @after AND rowid <= @end AND keep_until <= @now`),
  };
}
