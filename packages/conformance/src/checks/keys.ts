import { randomUUID } from "node:crypto";
import {
  expectAbsent,
  expectAcquired,
  expectBoolean,
  expectLost,
  expectRecord,
  fail,
  quote,
  show,
} from "../assertions.js";
import { type CheckEntry, type ConformanceContext, fromUtf8, group, RETENTION_MS, utf8 } from "../context.js";
import { randomText, twinAt } from "../random-text.js";

/**
 * Claims, reads, completes and reads back every key of `suffixes` (each appended to one fresh base
 * key), and fails naming the two keys whenever one key's call lands on another key's record.
 */
async function expectDistinct(t: ConformanceContext, label: string, suffixes: string[]): Promise<void> {
  const base = `${t.key(label)}:`;
  const keys = suffixes.map((s) => base + s);
  const unique = new Set(keys);
  if (unique.size !== keys.length) throw new Error(`conformance suite bug: duplicate keys in "${label}"`);
  const run = randomUUID().slice(0, 8);
  const tokens = keys.map((_, i) => `${run}-token-${i}`);
  const owner = new Map<unknown, number>(tokens.map((token, i) => [token, i]));
  const name = (i: number) => `#${i} ${quote(suffixes[i]!, 60)}`;
  const merged = (i: number, j: number, how: string) =>
    fail(
      `keys ${name(i)} and ${name(j)} (each after the base key ${quote(base, 80)}) are different strings but ` +
        `reached one record (${how}): the store merged them. Keys must be compared exactly, code unit for ` +
        "code unit: no trimming, case folding, Unicode normalisation, truncation or lossy escaping",
    );

  const claimed = await Promise.all(
    keys.map((key, i) => t.store.claim(key, t.claim({ token: tokens[i]!, fingerprint: `fp-${i}` }))),
  );
  claimed.forEach((result, i) => {
    if (result.acquired) {
      expectAcquired(result, { fence: 1, takeover: false }, `the first claim of key ${name(i)}`);
      return;
    }
    const j = owner.get(result.record?.token);
    if (j !== undefined && j !== i)
      merged(i, j, `the claim of ${name(i)} found the record claimed for ${name(j)}`);
    fail(`the first claim of key ${name(i)} did not acquire: it found ${show(result.record)}`);
  });

  const read = await Promise.all(keys.map((key) => t.store.get(key)));
  read.forEach((record, i) => {
    const j = owner.get(record?.token);
    if (j !== undefined && j !== i) merged(i, j, `get of ${name(i)} returned the record of ${name(j)}`);
    expectRecord(
      record,
      { state: "in_progress", token: tokens[i]!, fingerprint: `fp-${i}` },
      `get of key ${name(i)}`,
    );
  });

  const completed = await Promise.all(
    keys.map((key, i) =>
      t.store.complete(key, tokens[i]!, { result: utf8(`r-${i}`), retentionMs: RETENTION_MS }),
    ),
  );
  completed.forEach((done, i) => {
    expectBoolean(done, true, `complete of key ${name(i)} by its owner`);
  });

  const final = await Promise.all(keys.map((key) => t.store.get(key)));
  final.forEach((record, i) => {
    const text = record?.state === "completed" ? fromUtf8(record.result) : undefined;
    const j = text?.startsWith("r-") ? Number(text.slice(2)) : undefined;
    if (j !== undefined && j !== i)
      merged(i, j, `get of ${name(i)} returned the outcome stored for ${name(j)}`);
    expectRecord(
      record,
      { state: "completed", token: tokens[i]!, result: utf8(`r-${i}`) },
      `get of completed key ${name(i)}`,
    );
  });
  // A prefix of a key is a key of its own (the keys are `base` + suffix; suffix "" is `base` itself).
  expectAbsent(
    await t.store.get(base.slice(0, -1)),
    `get of ${quote(base.slice(0, -1), 80)}, a prefix of every key`,
  );
}

const longKeys: [slug: string, label: string, make: () => string][] = [
  ["4096-random", "4096 random characters", () => randomText(4096)],
  ["8kb", "8 KB", () => "k".repeat(8 * 1024)],
  ["32k-random", "32 K random characters", () => randomText(32 * 1024)],
];

const longKeyChecks = longKeys.map(
  ([slug, label, make]): CheckEntry => [
    `long-${slug}`,
    `a long key works: ${label}`,
    async (t) => {
      const tail = make();
      const key = `${t.key("long")}:${tail}`;
      const tailStart = key.length - tail.length;
      // Twins that differ from `key` in one character only: at the start of the tail, in its middle, and
      // last. A store that truncates, or hashes only part of the key, merges one of them with it.
      const twins = [
        ["its first character after the prefix", twinAt(key, tailStart)],
        ["its middle character", twinAt(key, tailStart + Math.floor(tail.length / 2))],
        ["its last character", twinAt(key, key.length - 1)],
      ] as const;
      const owner = t.claim({ fingerprint: "fp-long" });
      expectAcquired(
        await t.store.claim(key, owner),
        { fence: 1, takeover: false },
        `the claim of a key of ${label}`,
      );
      for (const [where, twin] of twins) {
        const found = await t.store.get(twin);
        if (found !== undefined) {
          fail(
            `a key of ${key.length} UTF-16 units and its twin that differs only in ${where} reached one record ` +
              `(get of the twin returned ${show(found)}): the store truncates or hashes part of long keys`,
          );
        }
      }
      const [, twin] = twins[2];
      const other = t.claim({ fingerprint: "fp-twin" });
      expectAcquired(
        await t.store.claim(twin, other),
        { fence: 1, takeover: false },
        "the claim of the last-character twin",
      );
      expectRecord(
        await t.store.get(key),
        { state: "in_progress", token: owner.token, fingerprint: "fp-long" },
        "get of the long key",
      );
      expectBoolean(
        await t.store.extend(key, owner.token, t.claim().leaseMs),
        true,
        "extend of the long key",
      );
      const outcome = { result: utf8("long"), retentionMs: RETENTION_MS };
      expectBoolean(await t.store.complete(key, owner.token, outcome), true, "complete of the long key");
      expectRecord(
        expectLost(await t.store.claim(key, t.claim()), "a claim of the completed long key"),
        { state: "completed", token: owner.token, result: utf8("long") },
        "the record it returns",
      );
      expectBoolean(await t.store.release(twin, other.token), true, "release of the twin");
      expectAcquired(
        await t.store.claim(twin, t.claim()),
        { fence: 2, takeover: false },
        "the claim of the twin after its release",
      );
      expectBoolean(await t.store.delete(key), true, "delete of the long key");
      expectAbsent(await t.store.get(key), "get of the long key after its delete");
    },
  ],
);

/**
 * Keys arrive scoped and prefixed by core; any well-formed Unicode string maps to its own record
 * (store.ts, `IdempotencyStore`). Each check names the keys that met.
 */
export const keys = group(
  "keys",
  [
    [
      "awkward",
      "awkward keys neither collide nor break",
      (t) =>
        expectDistinct(t, "awkward", [
          "",
          "ünïcødé-🔑-键",
          "a:b",
          "a",
          "a:b:c",
          "{tag}",
          "{tag}x",
          "%41",
          "A",
          "quote'single",
          'quote"double',
          "back\\slash",
          "with space",
          "with  space",
          "semi;colon--",
          "x".repeat(300),
          `${"y".repeat(255)}é`,
          "null\u0000byte",
          "nul\u0000a",
          "nul\u0000b",
          "new\nline",
          "*?[]",
          "$where",
          "'; DROP TABLE idemkit_keys; --",
        ]),
    ],
    [
      "unicode-normalisation",
      "keys that differ only in Unicode normalisation are different keys (é as one code point and as e + combining accent)",
      (t) =>
        expectDistinct(t, "normalisation", [
          "caf\u00e9", // é, NFC
          "cafe\u0301", // e + combining acute, NFD
          "\u212b", // ANGSTROM SIGN
          "\u00c5", // Å
          "A\u030a", // A + combining ring
          "\ufb01", // ﬁ ligature (NFKC: fi)
          "fi",
          "\u2460", // ① (NFKC: 1)
          "1",
        ]),
    ],
    [
      "trailing-spaces",
      "keys that differ only in trailing spaces are different keys (a, a␠, a␠␠: no PAD SPACE comparison)",
      (t) => expectDistinct(t, "spaces", ["a", "a ", "a  ", " a", "a\t", "a\u00a0"]),
    ],
    [
      "case",
      "keys that differ only in case are different keys (no case-insensitive comparison)",
      (t) =>
        expectDistinct(t, "case", [
          "a",
          "A",
          "strasse",
          "STRASSE",
          "straße",
          "\u00e9",
          "\u00c9",
          "i",
          "I",
          "\u0130",
          "\u0131",
        ]),
    ],
    [
      "escapes",
      "keys an escaping scheme could confuse are different keys (NUL and the text \\u0000, backslashes, %41 and A, doubled quotes)",
      (t) =>
        expectDistinct(t, "escapes", [
          "nul\u0000",
          "nul\\u0000",
          "nul\\\\u0000",
          "nul\\0",
          "back\\slash",
          "back\\\\slash",
          "back/slash",
          "pct%41",
          "pctA",
          "pct%2541",
          "quote'",
          "quote''",
          'dq"',
          'dq""',
          "plus+",
          "plus ",
        ]),
    ],
    ...longKeyChecks,
  ],
  { alone: true },
);
