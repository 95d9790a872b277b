import {
  checkListFilter,
  decodeListCursor,
  encodeListCursor,
  type ListFilter,
  type ListPage,
  type RecordSummary,
} from "@idemkit/core";
import type BetterSqlite3 from "better-sqlite3";

const WHERE = "@idemkit/sqlite: list";

/** Where a listing goes on: after this rowid (an upsert keeps a row's rowid, so a row is never passed twice). */
const isPosition = (value: unknown): value is { rowid: number } =>
  Number.isSafeInteger((value as { rowid?: unknown } | null)?.rowid);

interface SummaryRow {
  rowid: number;
  key: string;
  state: "in_progress" | "completed";
  fence: number;
  claimed_at: number;
  expires_at: number;
}

/**
 * The store's `list`: live rows in rowid order, `limit` + 1 read to know whether a page follows. The
 * prefix is compared as bytes (`substr` of the key's UTF-8 as a BLOB), so no character is a pattern and
 * a NUL does not end it; the deadline and the claim time are judged by `now()`, the store's clock.
 */
export function createLister(db: BetterSqlite3.Database, table: string, now: () => number) {
  const select = db
    .prepare(
      `SELECT rowid, key, state, fence, claimed_at, expires_at FROM ${table}
       WHERE rowid > @after AND typeof(expires_at) = 'integer' AND expires_at > @now
         AND (@state IS NULL OR state = @state) AND (@claimedBy IS NULL OR claimed_at <= @claimedBy)
         AND substr(CAST(key AS BLOB), 1, length(@prefix)) = @prefix
       ORDER BY rowid LIMIT @limit`,
    )
    .safeIntegers(false);

  return async function list(filter?: ListFilter): Promise<ListPage> {
    const { state, olderThanMs, prefix, limit, cursor } = checkListFilter(WHERE, filter);
    const after = cursor === undefined ? 0 : decodeListCursor(WHERE, cursor, isPosition).rowid;
    const at = now();
    const rows = select.all({
      after,
      now: at,
      state: state ?? null,
      claimedBy: olderThanMs === undefined ? null : at - olderThanMs,
      prefix: Buffer.from(prefix, "utf8"),
      limit: limit + 1,
    }) as SummaryRow[];
    const page = rows.slice(0, limit);
    const records = page.map(
      (row): RecordSummary => ({
        key: row.key,
        state: row.state,
        fence: row.fence,
        claimedAt: row.claimed_at,
        expiresAt: row.expires_at,
      }),
    );
    const last = page[page.length - 1];
    return rows.length > limit && last
      ? { records, cursor: encodeListCursor({ rowid: last.rowid }) }
      : { records };
  };
}
