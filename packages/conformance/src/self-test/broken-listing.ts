import type { ListFilter, ListPage, RecordSummary } from "@idemkit/core";
import type { BrokenStore } from "./broken-stores.js";
import { type MemoryStore, type Subject, sweep, wrap } from "./harness.js";

/** Broken `list` and `ping` capabilities, each on a memory store (see `BrokenStore`). */

/** A subject whose store's `list` is `list`, over the memory store's own. */
function listing(inner: MemoryStore, list: (filter?: ListFilter) => Promise<ListPage>): Subject {
  const store = wrap(inner, { list });
  return { instance: () => store, purge: () => sweep(inner) };
}

/** Every page of the memory store's own listing, with each summary passed through `change`. */
const mapped =
  (inner: MemoryStore, change: (summary: RecordSummary) => RecordSummary) => async (filter?: ListFilter) => {
    const page = await inner.list(filter);
    return { ...page, records: page.records.map(change) };
  };

export const brokenListingStores: BrokenStore[] = [
  {
    name: "list-with-outcome",
    breaks: "list returns the token with each summary (a SELECT * that a store forgot to narrow)",
    fails: { "listing/summaries": /carries token/ },
    build: (inner) =>
      listing(
        inner,
        mapped(inner, (summary) => ({ ...summary, token: "x" }) as RecordSummary),
      ),
  },
  {
    name: "list-claim-time-is-lease-end",
    breaks: "list reports the lease end as the claim time",
    fails: { "listing/summaries": /claimedAt/ },
    build: (inner) =>
      listing(
        inner,
        mapped(inner, (summary) => ({ ...summary, claimedAt: summary.expiresAt })),
      ),
  },
  {
    name: "list-keeps-claim-time-on-takeover",
    breaks: "a takeover keeps the claim time of the record it replaced",
    fails: { "listing/absent": /later claimedAt/ },
    build: (inner) => {
      const first = new Map<string, number>();
      return listing(
        inner,
        mapped(inner, (summary) => {
          const at = first.get(summary.key) ?? summary.claimedAt;
          first.set(summary.key, at);
          return { ...summary, claimedAt: at };
        }),
      );
    },
  },
  {
    name: "list-shows-released",
    breaks: "list shows a released record (it selects by state, not by lease end)",
    fails: { "listing/absent": /not expected .*released/ },
    build: (inner) => {
      const released = new Map<string, RecordSummary>();
      const store = wrap(inner, {
        async release(key, token) {
          const before = (await inner.list({ prefix: key })).records.find((r) => r.key === key);
          const done = await inner.release(key, token);
          if (done && before) released.set(key, before);
          return done;
        },
        async list(filter) {
          const page = await inner.list(filter);
          const extra = [...released.values()].filter((r) => r.key.startsWith(filter?.prefix ?? ""));
          return filter?.cursor === undefined ? { ...page, records: [...page.records, ...extra] } : page;
        },
      });
      return { instance: () => store, purge: () => sweep(inner) };
    },
  },
  {
    name: "list-ignores-state",
    breaks: "list ignores the state filter",
    fails: { "listing filters/state-and-age": /with state in_progress: not expected/ },
    build: (inner) => listing(inner, (filter) => inner.list({ ...filter, state: undefined })),
  },
  {
    name: "list-age-by-lease",
    breaks: "list judges olderThanMs by the lease end instead of the claim time",
    fails: { "listing filters/state-and-age": /olderThanMs/ },
    build: (inner) =>
      listing(inner, async (filter) => {
        const { olderThanMs, ...rest } = filter ?? {};
        const page = await inner.list(rest);
        if (olderThanMs === undefined) return page;
        const now = Date.now();
        return { ...page, records: page.records.filter((r) => r.expiresAt <= now - olderThanMs) };
      }),
  },
  {
    name: "list-prefix-as-like",
    breaks: "list matches the prefix as an SQL LIKE pattern (% and _ unescaped)",
    fails: { "listing filters/prefix-literal": /not expected .*50XY/ },
    build: (inner) =>
      listing(inner, async (filter) => {
        const { prefix = "", ...rest } = filter ?? {};
        const like = new RegExp(
          `^${prefix
            .replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
            .replaceAll("%", ".*")
            .replaceAll("_", ".")}`,
          "s",
        );
        const page = await inner.list(rest);
        return { ...page, records: page.records.filter((r) => like.test(r.key)) };
      }),
  },
  {
    name: "list-first-page-only",
    breaks: "list returns its first page without a cursor",
    fails: { "listing filters/pages": /with limit 1: missing/ },
    build: (inner) => listing(inner, async (filter) => ({ records: (await inner.list(filter)).records })),
  },
  {
    name: "list-over-limit",
    breaks: "list returns more records than the limit",
    fails: { "listing filters/pages": /held \d+ records/ },
    build: (inner) => listing(inner, (filter) => inner.list({ ...filter, limit: 1000 })),
  },
  {
    name: "ping-rejects",
    breaks: "ping rejects while the store answers (a ping of the wrong table)",
    fails: { "ping/answers": /ping rejected/ },
    build: (inner) => {
      const store = wrap(inner, {
        ping: () => Promise.reject(new Error('relation "idemkit_key" does not exist')),
      });
      return { instance: () => store, purge: () => sweep(inner) };
    },
  },
];
