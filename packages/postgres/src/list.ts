import {
  checkListFilter,
  decodeListCursor,
  decodeStoreText,
  encodeListCursor,
  encodeStoreText,
  type ListFilter,
  type ListPage,
  type RecordSummary,
} from "@idemkit/core";
import type { Queryable } from "./schema.js";

const WHERE = "@idemkit/postgres: list";

/** Where a listing goes on: after this key hash (hex), the table's primary key. */
const isPosition = (value: unknown): value is { after: string } =>
  /^[0-9a-f]{64}$/.test(String((value as { after?: unknown } | null)?.after));

/** Epoch milliseconds of a timestamptz column, as the store's `get` reads its deadline. */
const epochMs = (column: string) => `floor(extract(epoch FROM ${column}) * 1000)::float8`;

/**
 * The statements of `list` and `ping` on the quoted, schema-qualified table `t`. Every deadline and the
 * claim age are judged by `statement_timestamp()`, as the other statements do. The prefix is compared
 * on the escaped key text (`encodeStoreText` maps each character on its own, so a key's escaped text
 * starts with its prefix's) with `left()`, so no character is a pattern.
 */
export function listStatements(t: string) {
  return {
    list: `SELECT r.key, r.state, r.fence, ${epochMs("r.claimed_at")} AS claimed_ms,
        ${epochMs("r.expires_at")} AS deadline_ms, encode(r.key_hash, 'hex') AS hash
      FROM ${t} r
      WHERE r.expires_at > statement_timestamp()
        AND ($1::text IS NULL OR r.state = $1::text)
        AND ($2::float8 IS NULL OR r.claimed_at <= statement_timestamp() - $2::float8 * interval '1 millisecond')
        AND left(r.key, char_length($3::text)) = $3::text
        AND ($4::bytea IS NULL OR r.key_hash > $4::bytea)
      ORDER BY r.key_hash LIMIT $5`,
    /** Reads no row: `ping` proves the table can be read. */
    ping: `SELECT 1 FROM ${t} LIMIT 0`,
  };
}

interface SummaryRow {
  key: string;
  state: "in_progress" | "completed";
  fence: string;
  claimed_ms: number;
  deadline_ms: number;
  hash: string;
}

/** The store's `list`: live rows in key-hash order (the primary key's), `limit` + 1 read to know whether a page follows. */
export function createLister(db: Queryable, sql: ReturnType<typeof listStatements>) {
  return async function list(filter?: ListFilter): Promise<ListPage> {
    const { state, olderThanMs, prefix, limit, cursor } = checkListFilter(WHERE, filter);
    const after =
      cursor === undefined ? null : Buffer.from(decodeListCursor(WHERE, cursor, isPosition).after, "hex");
    const values = [state ?? null, olderThanMs ?? null, encodeStoreText(prefix), after, limit + 1];
    const { rows } = (await db.query(sql.list, values)) as { rows: SummaryRow[] };
    const page = rows.slice(0, limit);
    const records = page.map(
      (row): RecordSummary => ({
        key: decodeStoreText(row.key),
        state: row.state,
        fence: Number(row.fence),
        claimedAt: row.claimed_ms,
        expiresAt: row.deadline_ms,
      }),
    );
    const last = page[page.length - 1];
    return rows.length > limit && last
      ? { records, cursor: encodeListCursor({ after: last.hash }) }
      : { records };
  };
}
