import type { Database } from "better-sqlite3";

/** The table the store uses when none is given. */
export const DEFAULT_TABLE = "idemkit_keys";

/**
 * Quotes an SQL identifier for SQLite: wraps it in double quotes and doubles any inside, so any
 * table name is taken literally (never as SQL). The name is a single identifier, not `schema.table`.
 */
export function quoteIdentifier(name: string): string {
  if (name.length === 0 || name.includes("\u0000")) {
    throw new TypeError(`Invalid SQLite identifier: ${JSON.stringify(name)}`);
  }
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * The DDL of the store's table, as plain SQL for your own migration tool. Idempotent (`IF NOT EXISTS`).
 * Times are integer milliseconds since the epoch (process clock). `result` is the last column: a large
 * outcome spills into a chain of overflow pages, and SQLite reaches a column stored after it only by
 * reading that chain, which the purge (`keep_until`) and a claim's write (`expires_at`) would then do.
 */
export function sqliteSchema(table: string = DEFAULT_TABLE): string {
  const t = quoteIdentifier(table);
  return `CREATE TABLE IF NOT EXISTS ${t} (
  key         TEXT    NOT NULL PRIMARY KEY,  -- the scoped key, compared bytewise
  state       TEXT    NOT NULL CHECK (state IN ('in_progress', 'completed')),
  token       TEXT    NOT NULL,              -- the owner token of the claim
  fingerprint TEXT    NOT NULL,
  fence       INTEGER NOT NULL,              -- grows with every claim while the row is kept
  expires_at  INTEGER NOT NULL,              -- lease end (in_progress) or retention end (completed)
  keep_until  INTEGER NOT NULL,              -- after this the row, and its fence, may be purged
  takeover    INTEGER NOT NULL DEFAULT 0,    -- 1 when the claim that wrote the row replaced an expired lease
  claimed_at  INTEGER NOT NULL,              -- when the claim that wrote the row acquired it (for list)
  result      BLOB                           -- outcome bytes once completed; last, see above
);
`;
}

/** Creates the table if it does not exist (what the store does on open by default). */
export function migrate(db: Database, table: string = DEFAULT_TABLE): void {
  db.exec(sqliteSchema(table));
}
