import type { Entry } from "./memory-store.js";
import {
  checkListFilter,
  decodeListCursor,
  encodeListCursor,
  type ListFilter,
  type ListPage,
  type RecordSummary,
} from "./store-listing.js";

const WHERE = "idemkit memory store: list";

/** A cursor of the memory store: the last key of the previous page (keys are listed in code unit order). */
const isAfter = (value: unknown): value is { after: string } =>
  typeof value === "object" && value !== null && typeof (value as { after?: unknown }).after === "string";

/**
 * The memory store's `list`: the live entries in key order (code unit by code unit), so that a page
 * goes on after the last key of the previous one whatever was claimed or removed in between.
 */
export function listEntries(
  entries: ReadonlyMap<string, Entry>,
  filter: ListFilter | undefined,
  now: number,
): ListPage {
  const { state, olderThanMs, prefix, limit, cursor } = checkListFilter(WHERE, filter);
  const after = cursor === undefined ? undefined : decodeListCursor(WHERE, cursor, isAfter).after;
  const claimedBy = olderThanMs === undefined ? Number.POSITIVE_INFINITY : now - olderThanMs;
  const keys: string[] = [];
  for (const [key, entry] of entries) {
    if (entry.deadline <= now || !key.startsWith(prefix)) continue;
    if (after !== undefined && key <= after) continue;
    if (state !== undefined && entry.record.state !== state) continue;
    if (entry.claimedAt > claimedBy) continue;
    keys.push(key);
  }
  keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const page = keys.slice(0, limit);
  const records = page.map((key): RecordSummary => {
    const { record, claimedAt, deadline } = entries.get(key) as Entry;
    return { key, state: record.state, fence: record.fence, claimedAt, expiresAt: deadline };
  });
  const last = page[page.length - 1];
  return keys.length > limit && last !== undefined
    ? { records, cursor: encodeListCursor({ after: last }) }
    : { records };
}
