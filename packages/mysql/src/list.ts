import {
  checkListFilter,
  decodeListCursor,
  encodeListCursor,
  type ListFilter,
  type ListPage,
  type RecordSummary,
} from "@idemkit/core";
import { decodeText, encodedBytes } from "./key.js";
import type { mysqlStatements, Queryable } from "./schema.js";

const WHERE = "@idemkit/mysql: list";

/** Where a listing goes on: after this key hash (hex), the table's primary key. */
const isPosition = (value: unknown): value is { after: string } =>
  /^[0-9A-F]{64}$/.test(String((value as { after?: unknown } | null)?.after));

interface SummaryRow {
  key_text: Uint8Array;
  state: unknown;
  fence: string;
  claimed: string;
  deadline: string;
  hash: unknown;
}

/** A column that holds ASCII (a state, digits): a string whatever the pool's charset made of it. */
const ascii = (value: unknown) =>
  value instanceof Uint8Array ? Buffer.from(value).toString("latin1") : String(value);

/**
 * The store's `list`: live rows in key-hash order (the primary key's), `limit` + 1 read to know whether a
 * page follows, judged by the server's clock. `run` is the store's own statement runner (a lost race retried).
 */
export function createLister(run: Queryable["query"], sql: ReturnType<typeof mysqlStatements>) {
  return async function list(filter?: ListFilter): Promise<ListPage> {
    const { state, olderThanMs, prefix, limit, cursor } = checkListFilter(WHERE, filter);
    const after =
      cursor === undefined
        ? Buffer.alloc(0)
        : Buffer.from(decodeListCursor(WHERE, cursor, isPosition).after, "hex");
    const age = olderThanMs === undefined ? null : Math.ceil(olderThanMs);
    const bytes = encodedBytes(prefix);
    const values = [after, state ?? null, state ?? null, age, age, bytes, bytes];
    const rows = (await run(sql.list(limit + 1), values))[0] as SummaryRow[];
    const page = rows.slice(0, limit);
    const records = page.map(
      (row): RecordSummary => ({
        key: decodeText(Buffer.from(row.key_text).toString("utf8")),
        state: ascii(row.state) === "completed" ? "completed" : "in_progress",
        fence: Number(ascii(row.fence)),
        claimedAt: Number(ascii(row.claimed)),
        expiresAt: Number(ascii(row.deadline)),
      }),
    );
    const last = page[page.length - 1];
    return rows.length > limit && last
      ? { records, cursor: encodeListCursor({ after: ascii(last.hash) }) }
      : { records };
  };
}
