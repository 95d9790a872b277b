import { resultTextBytes, resultTextOf } from "@idemkit/core";
import { limited, wrap } from "../harness.js";
import { type BrokenStore, KiB64, mapReads, single, wrapped } from "./support.js";

/** Broken stores the `bytes` checks catch. */
export const bytes: BrokenStore[] = [
  {
    name: "result-text-lower-cased",
    breaks: "resultText spells result exactly (this one gives it lower-cased)",
    fails: { "bytes/result-text": /the bytes get's resultText spells, for an outcome of every ASCII byte/ },
    build: (inner) =>
      single(
        inner,
        mapReads(inner, (record) => {
          if (record.state !== "completed") return record;
          const resultText = resultTextOf(record.result)?.toLowerCase();
          return resultText === undefined ? record : { ...record, resultText };
        }),
      ),
  },
  {
    name: "result-text-unescaped",
    breaks: "resultText spells result exactly (this one gives the bytes as Latin-1 text, NUL unescaped)",
    fails: { "bytes/result-text": /resultText .* is not a result text/ },
    build: (inner) =>
      single(
        inner,
        mapReads(inner, (record) =>
          record.state === "completed"
            ? { ...record, resultText: String.fromCharCode(...record.result.subarray(0, 1024)) }
            : record,
        ),
      ),
  },
  {
    name: "result-text-written-escaped",
    breaks:
      "a completion given as result text stores the bytes it spells (this one stores its characters, escapes and all)",
    fails: { "bytes/complete-as-text": /get of an outcome given as the result text of run\(\)'s envelope/ },
    build: (inner) =>
      wrapped(inner, {
        complete: (key, token, { resultText, result, retentionMs }) =>
          inner.complete(key, token, {
            result: resultText === undefined ? result : Uint8Array.from(resultText, (c) => c.charCodeAt(0)),
            retentionMs,
          }),
      }),
  },
  {
    name: "result-text-unchecked",
    breaks:
      "a store that writes resultText checks it is a result text (this one writes any text it is given)",
    fails: { "bytes/complete-as-text": /an outcome whose resultText .* is not a result text/ },
    build: (inner) =>
      wrapped(inner, {
        complete: (key, token, { resultText, result, retentionMs }) =>
          inner.complete(key, token, {
            result:
              resultText === undefined
                ? result
                : (resultTextBytes(resultText) ?? Uint8Array.from(resultText, (c) => c.charCodeAt(0))),
            retentionMs,
          }),
      }),
  },
  {
    name: "result-through-utf8",
    breaks: "outcome bytes round-trip exactly (this one stores them as UTF-8 text)",
    fails: {
      "bytes/round-trip-all-byte-values": /the result (has \d+ bytes, expected 256|differs)/,
      "bytes/round-trip-invalid-utf8": /the result (has \d+ bytes, expected 8|differs)/,
    },
    build: (inner) =>
      wrapped(inner, {
        complete: (key, token, outcome) =>
          inner.complete(key, token, {
            ...outcome,
            result: new TextEncoder().encode(new TextDecoder().decode(outcome.result)),
          }),
      }),
  },
  {
    name: "empty-result-as-null",
    breaks: "an empty outcome round-trips (this one reads it back as NULL)",
    fails: { "bytes/round-trip-empty": /the result is null, not a Uint8Array/ },
    build: (inner) =>
      single(
        inner,
        mapReads(inner, (record) =>
          record.state === "completed" && record.result.length === 0
            ? { ...record, result: null as unknown as Uint8Array }
            : record,
        ),
      ),
  },
  {
    name: "result-capped-64KiB",
    breaks: "outcomes of several MiB round-trip (this one keeps 65,535 bytes, a MySQL BLOB)",
    fails: { "bytes/round-trip-1mib": /the result has 65535 bytes, expected 1048576/ },
    build: (inner) =>
      wrapped(inner, {
        complete: (key, token, outcome) =>
          inner.complete(key, token, { ...outcome, result: outcome.result.slice(0, 65_535) }),
      }),
  },
  {
    name: "rejects-large-outcome",
    breaks: "outcomes of several MiB round-trip (this one refuses more than 2 MiB)",
    fails: { "bytes/round-trip-4mib": /exceeds maximum allowed size/ },
    build: (inner) =>
      wrapped(inner, {
        async complete(key, token, outcome) {
          if (outcome.result.length > 2 * 1024 * 1024)
            throw new Error("ERR string exceeds maximum allowed size");
          return inner.complete(key, token, outcome);
        },
      }),
  },
  {
    name: "over-limit-lost",
    breaks: "an outcome over the declared limit rejects (this one answers false, as if the lease was lost)",
    fails: { "bytes/over-limit": /resolved false: it must reject/ },
    build: (inner) => ({
      ...wrapped(inner, {
        complete: async (key, token, outcome) =>
          outcome.result.byteLength > KiB64 ? false : inner.complete(key, token, outcome),
      }),
      outcomeBytes: KiB64,
    }),
  },
  {
    name: "truncates-below-limit",
    breaks:
      "a store holds outcomes up to its declared limit (this one declares 64 KiB and keeps the first 60 KiB)",
    fails: {
      "bytes/round-trip-at-limit": /the result has 61440 bytes, expected 65536/,
      "bytes/round-trip-below-limit": /the result has 61440 bytes, expected 65535/,
    },
    build: (inner) => ({
      ...single(
        inner,
        limited(
          wrap(inner, {
            complete: (key, token, outcome) =>
              inner.complete(key, token, { ...outcome, result: outcome.result.slice(0, 60 * 1024) }),
          }),
          KiB64,
        ),
      ),
      outcomeBytes: KiB64,
    }),
  },
  {
    name: "limit-exclusive",
    breaks: "an outcome of exactly the declared limit fits (this one rejects it: >= where > was meant)",
    fails: { "bytes/round-trip-at-limit": /complete of key .* rejected: .*65536 bytes or more/ },
    build: (inner) => ({
      ...wrapped(inner, {
        async complete(key, token, outcome) {
          if (outcome.result.byteLength >= KiB64) throw new Error(`the outcome is ${KiB64} bytes or more`);
          return inner.complete(key, token, outcome);
        },
      }),
      outcomeBytes: KiB64,
    }),
  },
  {
    name: "keeps-caller-buffer",
    breaks: "the store keeps the outcome as given (this one keeps the caller's buffer, not a copy)",
    fails: { "bytes/copied-on-complete": /after the caller overwrote its buffer/ },
    build: (inner) => {
      const held = new Map<string, Uint8Array>();
      const store = mapReads(inner, (record, key) =>
        record.state === "completed" && held.has(key) ? { ...record, result: held.get(key)! } : record,
      );
      return single(
        inner,
        wrap(store, {
          async complete(key, token, outcome) {
            const done = await inner.complete(key, token, outcome);
            if (done) held.set(key, outcome.result);
            return done;
          },
        }),
      );
    },
  },
  {
    name: "shares-stored-buffer",
    breaks: "reads return bytes of their own (this one hands every reader the same buffer)",
    fails: { "bytes/copied-on-read": /after a caller overwrote the result of an earlier get/ },
    build: (inner) => {
      const shared = new Map<string, Uint8Array>();
      return single(
        inner,
        mapReads(inner, (record, key) => {
          if (record.state !== "completed") return record;
          if (!shared.has(key)) shared.set(key, record.result);
          return { ...record, result: shared.get(key)! };
        }),
      );
    },
  },
  {
    name: "stores-whole-arraybuffer",
    breaks: "a view's bytes are stored (this one stores its whole underlying ArrayBuffer)",
    fails: { "bytes/view": /the result has 256 bytes, expected 13/ },
    build: (inner) =>
      wrapped(inner, {
        complete: (key, token, outcome) =>
          inner.complete(key, token, { ...outcome, result: new Uint8Array(outcome.result.buffer) }),
      }),
  },
];
