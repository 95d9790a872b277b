import { randomBytes } from "node:crypto";
import { type CompletedRecord, type CompleteRequest, resultTextBytes, withLazyResult } from "@idemkit/core";
import { bytesDiffer, expectAcquired, expectBoolean, expectLost, fail, show } from "../assertions.js";
import { type CheckEntry, type ConformanceContext, group, RETENTION_MS, utf8 } from "../context.js";

const MiB = 1024 * 1024;

/** Claims a fresh key, completes it with `outcome` (bytes, or a whole request), and returns a read of the stored bytes. */
async function completeWith(t: ConformanceContext, outcome: Uint8Array | CompleteRequest, label: string) {
  const key = t.key("bytes");
  const owner = t.claim();
  expectAcquired(await t.store.claim(key, owner), { fence: 1, takeover: false }, "the claim");
  const request = outcome instanceof Uint8Array ? { result: outcome, retentionMs: RETENTION_MS } : outcome;
  expectBoolean(await t.store.complete(key, owner.token, request), true, `complete with ${label}`);
  const record = async (how: "get" | "claim"): Promise<CompletedRecord> => {
    const read =
      how === "get"
        ? await t.store.get(key)
        : expectLost(await t.store.claim(key, t.claim()), "a claim of the completed key");
    if (read?.state !== "completed")
      fail(
        `${how} of the key completed with ${label}: expected the completed record, got ${read?.state ?? "nothing"}`,
      );
    return read;
  };
  const read = async (how: "get" | "claim") => (await record(how)).result;
  return Object.assign(read, { record });
}

function expectBytes(actual: unknown, expected: Uint8Array, what: string): void {
  const why = bytesDiffer(actual, expected);
  if (why) fail(`${what}: ${why}`);
}

const roundTrips: [slug: string, label: string, make: () => Uint8Array, size?: number][] = [
  ["empty", "empty", () => new Uint8Array(0)],
  ["all-byte-values", "all 256 byte values", () => Uint8Array.from({ length: 256 }, (_, i) => i)],
  ["1mib", "1 MiB of random bytes", () => new Uint8Array(randomBytes(MiB)), MiB],
  [
    "4mib",
    "4 MiB of random bytes (outcomes may be several MiB)",
    () => new Uint8Array(randomBytes(4 * MiB)),
    4 * MiB,
  ],
  ["invalid-utf8", "invalid UTF-8", () => Uint8Array.from([0xff, 0xfe, 0x00, 0xc3, 0x28, 0xa0, 0xa1, 0x00])],
];

const roundTripChecks = roundTrips.map(
  ([slug, label, make, size]): CheckEntry => [
    `round-trip-${slug}`,
    `outcome bytes round-trip exactly: ${label}`,
    async (t) => {
      const result = make();
      const expected = result.slice();
      const read = await completeWith(t, result, label);
      expectBytes(await read("get"), expected, `get of an outcome of ${label}`);
      expectBytes(await read("claim"), expected, `a claim replaying an outcome of ${label}`);
    },
    { outcomeBytes: size },
  ],
);

/**
 * A store that declares `limits.outcomeBytes` holds that many bytes: an outcome of exactly the limit and
 * one just below round-trip whole (the larger round trips are skipped for it, so these prove the limit).
 */
const atLimitChecks = (
  [
    ["at-limit", "exactly the declared outcome limit", 0],
    ["below-limit", "one byte under the declared outcome limit", 1],
  ] as const
).map(
  ([slug, label, under]): CheckEntry => [
    `round-trip-${slug}`,
    `outcome bytes round-trip exactly: ${label}`,
    async (t) => {
      const size = t.outcomeBytes - under;
      const result = new Uint8Array(randomBytes(size));
      const expected = result.slice();
      const what = `${size} random bytes (${label})`;
      const read = await completeWith(t, result, what);
      expectBytes(await read("get"), expected, `get of an outcome of ${what}`);
      expectBytes(await read("claim"), expected, `a claim replaying an outcome of ${what}`);
    },
    { needsOutcomeLimit: true },
  ],
);

/** A store with a hard outcome limit fails the completion past it, and only that: the owner keeps the key. */
const overLimit: CheckEntry = [
  "over-limit",
  "an outcome over the store's declared limit: complete rejects, stores nothing, and the owner still holds the key",
  async (t) => {
    const key = t.key("over-limit");
    const owner = t.claim();
    expectAcquired(await t.store.claim(key, owner), { fence: 1, takeover: false }, "the claim");
    const size = 2 * t.outcomeBytes;
    const outcome = { result: new Uint8Array(randomBytes(size)), retentionMs: RETENTION_MS };
    const answer = await t.store.complete(key, owner.token, outcome).then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
    if (!("error" in answer)) {
      fail(
        `complete with ${size} bytes, twice the declared limit, resolved ${show(answer.value)}: it must reject ` +
          "(false means the lease was lost, and core would treat a lost lease as a stale owner)",
      );
    }
    const record = await t.store.get(key);
    if (record?.state !== "in_progress" || record.token !== owner.token) {
      fail(
        `after the rejected completion the key reads as ${show(record)}: expected the owner's in_progress record`,
      );
    }
    const small = { result: utf8("fits"), retentionMs: RETENTION_MS };
    expectBoolean(await t.store.complete(key, owner.token, small), true, "the owner's completion that fits");
  },
  { needsOutcomeLimit: true },
];

/** The outcome is opaque bytes that round-trip exactly (store.ts, `CompleteRequest.result`). */
export const bytes = group(
  "bytes",
  [
    ...roundTripChecks,
    ...atLimitChecks,
    overLimit,
    [
      "copied-on-complete",
      "the store keeps its own copy of the outcome: changing the caller's buffer after complete changes nothing stored",
      async (t) => {
        const result = Uint8Array.from({ length: 64 }, (_, i) => i);
        const expected = result.slice();
        const read = await completeWith(t, result, "64 bytes");
        result.fill(0xee);
        const why = "an in-process store must copy the bytes given to complete, not keep the caller's buffer";
        expectBytes(await read("get"), expected, `get after the caller overwrote its buffer (${why})`);
        expectBytes(await read("claim"), expected, `a replay after the caller overwrote its buffer (${why})`);
      },
    ],
    [
      "copied-on-read",
      "reads hand out copies: changing a result that get or claim returned changes nothing stored",
      async (t) => {
        const expected = Uint8Array.from({ length: 64 }, (_, i) => 255 - i);
        const read = await completeWith(t, expected.slice(), "64 bytes");
        const first = await read("get");
        if (first instanceof Uint8Array) first.fill(0x11);
        const replayed = await read("claim");
        if (replayed instanceof Uint8Array) replayed.fill(0x22);
        const why = "each read must return bytes of its own, not the store's";
        expectBytes(
          await read("get"),
          expected,
          `get after a caller overwrote the result of an earlier get and claim (${why})`,
        );
      },
    ],
    [
      "result-text",
      "a record's resultText, where a store gives one, spells its result exactly (ASCII, NUL as DLE '0', DLE as DLE DLE)",
      async (t) => {
        const json = Uint8Array.from('{"id":1,"note":"\\u0000"}', (c) => c.charCodeAt(0));
        const outcomes: [string, Uint8Array][] = [
          ["run()'s envelope and a JSON value", Uint8Array.from([0, 1, ...json])],
          ["NUL and DLE side by side", Uint8Array.from([0x10, 0, 0x10, 0x10, 0x30, 0])],
          ["bytes past ASCII", Uint8Array.from([0x41, 0x80, 0xff, 0])],
          [
            "every ASCII byte, letters of both cases among them",
            Uint8Array.from({ length: 128 }, (_, i) => i),
          ],
          ["64 KiB of ASCII", Uint8Array.from({ length: 65_536 }, (_, i) => (i * 37) % 128)],
        ];
        for (const [label, outcome] of outcomes) {
          const { record } = await completeWith(t, outcome.slice(), label);
          for (const how of ["get", "claim"] as const) {
            const read = await record(how);
            if (read.resultText === undefined) continue;
            const spelt = typeof read.resultText === "string" ? resultTextBytes(read.resultText) : undefined;
            if (spelt === undefined) {
              fail(
                `${how} of an outcome of ${label}: resultText ${show(read.resultText)} is not a result text`,
              );
            }
            expectBytes(spelt, outcome, `the bytes ${how}'s resultText spells, for an outcome of ${label}`);
            expectBytes(
              read.result,
              outcome,
              `${how}'s result beside its resultText, for an outcome of ${label}`,
            );
          }
        }
      },
    ],
    [
      "complete-as-text",
      "a completion given as result text (run()'s, its result a getter that builds the bytes) stores the bytes it spells; bytes read and changed in place, or a text that is not one, the result",
      async (t) => {
        const json = '{"id":1,"note":"\\u0000"}';
        const texts: [string, string][] = [
          ["run()'s envelope and a JSON value", `\u00100\u0001${json}`],
          ["the envelope, then DLE DLE", "\u00100\u0001\u0010\u0010"],
          ["the envelope, then an escaped NUL", "\u00100\u0001a\u00100"],
          ["NUL and DLE side by side", "\u0010\u0010\u00100\u0010\u00100\u00100"],
          ["60 KB of ASCII (within the least outcome limit)", `\u00100\u0001"${'ab\\"'.repeat(15_000)}"`],
        ];
        for (const [label, text] of texts) {
          const expected =
            resultTextBytes(text) ?? fail(`the check's own text for ${label} is not a result text`);
          const request = withLazyResult({ retentionMs: RETENTION_MS }, text);
          const read = await completeWith(t, request, `a completion given as the result text of ${label}`);
          expectBytes(await read("get"), expected, `get of an outcome given as the result text of ${label}`);
          expectBytes(
            await read("claim"),
            expected,
            `a replay of an outcome given as the result text of ${label}`,
          );
        }
        // Bytes read and changed in place (a wrapper that encrypts them, say): the changed bytes are stored.
        const changed = withLazyResult({ retentionMs: RETENTION_MS }, `\u00100\u0001${json}`);
        changed.result.set([0xff], 2);
        const expectedChanged = Uint8Array.from(changed.result);
        const readChanged = await completeWith(
          t,
          changed,
          "result text whose bytes were read and changed in place",
        );
        expectBytes(
          await readChanged("get"),
          expectedChanged,
          "get of an outcome whose bytes were changed in place after a read of result",
        );
        // A store that writes resultText checks it first (store.ts): these do not spell their result.
        const result = Uint8Array.from([0, 1, 0x7b, 0x7d]);
        for (const resultText of ["\u0010x", "\u00100\u00e9", "\u00100a\u0000"]) {
          const mismatched = { result, resultText, retentionMs: RETENTION_MS };
          const read = await completeWith(t, mismatched, "a resultText that is not a result text");
          expectBytes(
            await read("get"),
            result,
            `get of an outcome whose resultText ${show(resultText)} is not a result text (its result)`,
          );
        }
      },
    ],
    [
      "view",
      "a Uint8Array view into a larger buffer stores only the view's bytes (its byteOffset and byteLength)",
      async (t) => {
        const backing = Uint8Array.from({ length: 256 }, (_, i) => i);
        const view = backing.subarray(7, 20);
        const read = await completeWith(t, view, "a 13-byte view at offset 7 of a 256-byte buffer");
        const why = "store view.byteLength bytes from view.byteOffset, not the whole view.buffer";
        expectBytes(await read("get"), backing.slice(7, 20), `get (${why})`);
      },
    ],
  ],
  { alone: true },
);
