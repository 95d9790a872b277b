import { clock, group, RETENTION_MS, utf8 } from "../context.js";
import { expectKeys, listAll } from "../listing-support.js";
import { onTime } from "../on-time.js";

/** `list` (optional): its filters (state, age, prefix) and its pages. */
export const listingFilters = group(
  "listing filters",
  [
    [
      "state-and-age",
      "list filters by state and by the age of the claim (olderThanMs, on the store's clock)",
      (t) =>
        onTime(t.toleranceMs, async (inTime) => {
          const base = `${t.key("list-age")}:`;
          const [old, young, done] = [`${base}old`, `${base}young`, `${base}done`];
          await t.store.claim(old, t.claim());
          const finisher = t.claim();
          await t.store.claim(done, finisher);
          await t.store.complete(done, finisher.token, { result: utf8("x"), retentionMs: RETENTION_MS });
          await t.waitPast(t.leaseMs);
          const youngAt = clock();
          await t.store.claim(young, t.claim());
          // `old` and `done` were claimed at least leaseMs + toleranceMs ago, `young` a call or two ago.
          // The listings that need `young` younger than `halfway` come early: each listing takes time, a
          // whole keyspace's scan on a shared server under load. (The state filter alone comes before the
          // two together, so a store that ignores it is named by the simpler case.) A process that stalls
          // past `halfway` before one of them starts the check over (`onTime`).
          const halfway = Math.floor((t.leaseMs + t.toleranceMs) / 2);
          const cases: [object, string[], string, boolean][] = [
            [
              { olderThanMs: halfway },
              [old, done],
              `olderThanMs ${halfway} (claimed ${halfway * 2} ms or more ago, or just now)`,
              true,
            ],
            [{ state: "in_progress" }, [old, young], "state in_progress", false],
            [
              { state: "in_progress", olderThanMs: halfway },
              [old],
              `state in_progress and olderThanMs ${halfway}`,
              true,
            ],
            [{ state: "completed" }, [done], "state completed", false],
            [{ olderThanMs: 0 }, [old, young, done], "olderThanMs 0", false],
            [{ olderThanMs: 3_600_000 }, [], "olderThanMs one hour", false],
          ];
          for (const [filter, expected, what, youngMustBeYoung] of cases) {
            if (youngMustBeYoung) inTime(youngAt, halfway, `list with ${what}`);
            expectKeys(
              await listAll(t, { prefix: base, ...filter }, `list with ${what}`),
              expected,
              `list with ${what}`,
            );
          }
        }),
    ],
    [
      "prefix-literal",
      "list's prefix is plain text: %, _, *, ?, [ ], \\, NUL and non-ASCII match only themselves, code unit for code unit",
      async (t) => {
        const base = `${t.key("list-prefix")}:`;
        const prefix = `${base}50%_*?[ab]\\\u0000é😀:`;
        const matching = [prefix, `${prefix}x`, `${prefix}%`];
        const decoys = [
          `${base}50%_*?[ab]\\\u0000e\u0301😀:x`, // é decomposed
          `${base}50%_*?[ab]\\\u0000É😀:x`, // another case
          `${base}50XY*?[ab]\\\u0000é😀:x`, // % and _ as LIKE wildcards
          `${base}50%_ZZ?[ab]\\\u0000é😀:x`, // * as a glob
          `${base}50%_*Q[ab]\\\u0000é😀:x`, // ? as a glob
          `${base}50%_*?a\\\u0000é😀:x`, // [ab] as a glob class
          `${base}50%_*?[ab]\\\u0001é😀:x`, // the text after NUL ignored
          `${base}50%_*?[ab]\u0000é😀:x`, // the backslash as an escape
          `${base}50%_*?[ab]\\\u0000é😀`, // shorter than the prefix
        ];
        for (const key of [...matching, ...decoys]) await t.store.claim(key, t.claim());
        expectKeys(
          await listAll(t, { prefix }, "list with the prefix"),
          matching,
          "list with a prefix of special characters",
        );
        expectKeys(
          await listAll(t, { prefix: base }, "list with the base prefix"),
          [...matching, ...decoys],
          "list with the base prefix",
        );
      },
    ],
    [
      "pages",
      "list pages: limit records at most per page, every live key once the cursor runs out",
      async (t) => {
        const base = `${t.key("list-pages")}:`;
        const keys = Array.from({ length: 7 }, (_, i) => `${base}${i}`);
        for (const key of keys) await t.store.claim(key, t.claim());
        for (const limit of [1, 2, 3]) {
          // listAll fails on a page above the limit, or a cursor that never runs out.
          expectKeys(
            await listAll(t, { prefix: base, limit }, `list with limit ${limit}`),
            keys,
            `list with limit ${limit}`,
          );
        }
      },
    ],
  ],
  { needs: "list" },
);
