import type { ListFilter, RecordSummary } from "@idemkit/core";
import { fail, quote, show } from "./assertions.js";
import type { ConformanceContext } from "./context.js";

/** More pages than any listing of a check's few keys can take, however short a store's pages. */
const MAX_PAGES = 10_000;

/**
 * Every record a listing with `filter` returns, page after page (`limit` per page), by key: a record
 * listed twice (a scan may) counts once, and must read the same both times but for its deadline.
 */
export async function listAll(
  t: ConformanceContext,
  filter: ListFilter,
  what: string,
): Promise<Map<string, RecordSummary>> {
  const list = t.store.list;
  if (list === undefined) fail(`${what}: the store has no list()`);
  const found = new Map<string, RecordSummary>();
  let cursor: string | undefined;
  for (let pages = 1; ; pages++) {
    const page = await list({ ...filter, cursor });
    if (page === null || typeof page !== "object" || !Array.isArray(page.records)) {
      fail(`${what}: list returned ${show(page)}, not a page ({ records, cursor? })`);
    }
    const limit = filter.limit ?? 100;
    if (page.records.length > limit) {
      fail(`${what}: a page of list({ limit: ${limit} }) held ${page.records.length} records`);
    }
    for (const record of page.records) found.set(record.key, record);
    if (page.cursor === undefined) return found;
    if (typeof page.cursor !== "string" || page.cursor === "") {
      fail(
        `${what}: list returned the cursor ${show(page.cursor)}: a non-empty string, or absent on the last page`,
      );
    }
    if (page.cursor === cursor)
      fail(`${what}: list returned the cursor it was given: the listing never ends`);
    if (pages >= MAX_PAGES) fail(`${what}: the listing still had a cursor after ${MAX_PAGES} pages`);
    cursor = page.cursor;
  }
}

/** Asserts that the listing found exactly `expected` keys; the message names those missing and those extra. */
export function expectKeys(
  found: ReadonlyMap<string, RecordSummary>,
  expected: readonly string[],
  what: string,
  why = "",
): void {
  const missing = expected.filter((key) => !found.has(key));
  const extra = [...found.keys()].filter((key) => !expected.includes(key));
  if (missing.length === 0 && extra.length === 0) return;
  const keys = (list: string[]) => list.map((key) => quote(key, 100)).join(", ");
  fail(
    `${what}: ${missing.length ? `missing ${keys(missing)}` : ""}${missing.length && extra.length ? "; " : ""}` +
      `${extra.length ? `not expected ${keys(extra)} (${[...extra].map((key) => show(found.get(key))).join(", ")})` : ""}` +
      (why ? `: ${why}` : ""),
  );
}

/** The summary of `key` in a listing, or a failure saying the listing missed it. */
export function summaryOf(
  found: ReadonlyMap<string, RecordSummary>,
  key: string,
  what: string,
): RecordSummary {
  const summary = found.get(key);
  if (summary === undefined) fail(`${what}: the listing does not have the live key ${quote(key, 100)}`);
  return summary;
}
