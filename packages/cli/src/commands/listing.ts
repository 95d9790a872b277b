import { type ListFilter, type ListPage, MAX_LIST_LIMIT, type RecordSummary } from "@idemkit/core";
import { CliError, EXIT } from "../errors.js";
import type { OpenStore } from "../stores/types.js";

/** The store's `list`, or a `CliError` (exit 3) when it has none. */
export function listOf(open: OpenStore): (filter: ListFilter) => Promise<ListPage> {
  const { store } = open;
  if (typeof store.list !== "function") {
    throw new CliError(EXIT.UNAVAILABLE, `the ${open.name} store offers no list(): it cannot be listed`);
  }
  return (filter) => (store.list as (filter: ListFilter) => Promise<ListPage>)(filter);
}

/**
 * Every record of a listing, page after page, each key once (a Redis SCAN may return one twice), until
 * `limit` records or the end. Returns the cursor to go on from when it stopped before the end.
 */
export async function collect(
  list: (filter: ListFilter) => Promise<ListPage>,
  filter: Omit<ListFilter, "limit" | "cursor">,
  limit: number,
  cursor: string | undefined,
): Promise<{ records: RecordSummary[]; cursor?: string }> {
  const seen = new Map<string, RecordSummary>();
  let next = cursor;
  do {
    const page = await list({ ...filter, limit: Math.min(limit - seen.size, MAX_LIST_LIMIT), cursor: next });
    for (const record of page.records)
      if (seen.size < limit || seen.has(record.key)) seen.set(record.key, record);
    next = page.cursor;
  } while (next !== undefined && seen.size < limit);
  return { records: [...seen.values()], ...(next !== undefined && { cursor: next }) };
}
