import { describe, expect, it } from "vitest";
import { NotReplayableError } from "./errors.js";
import { createIdempotency } from "./idempotency.js";
import { createMemoryStore } from "./memory-store.js";
import { isResultText, resultTextByteLength, resultTextBytes, resultTextOf } from "./result-text.js";
import type { CompletedRecord, IdempotencyRecord, IdempotencyStore } from "./store.js";

const bytes = (...values: number[]) => Uint8Array.from(values);
const ascii = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));

describe("result text", () => {
  it.each([
    ["empty", bytes()],
    ["plain ASCII", ascii('{"id":1}')],
    ["NUL first, as run() stores", bytes(0, 1, ...ascii("{}"))],
    ["NUL and DLE everywhere", bytes(0x10, 0, 0x10, 0x10, 0x30, 0, 0, 0x10)],
    ['DLE before "0"', bytes(0x10, 0x30)],
    ["every ASCII byte", Uint8Array.from({ length: 128 }, (_, i) => i)],
  ])("round-trips %s", (_label, outcome) => {
    const text = resultTextOf(outcome);
    expect(text).toBeDefined();
    expect(isResultText(text!)).toBe(true);
    expect(resultTextBytes(text!)).toEqual(outcome);
  });

  it("writes NUL as DLE '0' and DLE as DLE DLE, and nothing else escaped", () => {
    expect(resultTextOf(bytes(0, 0x10, 0x41))).toBe("\u00100\u0010\u0010A");
  });

  it("round-trips 64 KiB of random ASCII with escapes", () => {
    const outcome = Uint8Array.from({ length: 65536 }, () => Math.floor(Math.random() * 128));
    expect(resultTextBytes(resultTextOf(outcome)!)).toEqual(outcome);
  });

  it("counts the bytes a text spells, each escape pair one", () => {
    for (const outcome of [
      bytes(),
      bytes(0),
      bytes(0x10, 0, 0x10, 0x10, 0x30, 0, 0, 0x10),
      ascii('{"a":1}'),
      Uint8Array.from({ length: 300 }, (_, i) => (i % 3 === 0 ? 0 : i % 3 === 1 ? 0x10 : 0x41)),
    ]) {
      expect(resultTextByteLength(resultTextOf(outcome)!)).toBe(outcome.length);
    }
  });

  it("has no text for bytes past ASCII", () => {
    expect(resultTextOf(bytes(0x41, 0x80))).toBeUndefined();
    expect(resultTextOf(bytes(0xff))).toBeUndefined();
  });

  it.each([
    ["a character past ASCII", "caf\u00e9"],
    ["a character past Latin-1", "\u20ac"],
    ["a raw NUL", "a\u0000b"],
    ["DLE last", "abc\u0010"],
    ["DLE before another character", "\u0010a"],
    ["DLE before NUL", "\u0010\u0000"],
  ])("refuses %s", (_label, text) => {
    expect(isResultText(text)).toBe(false);
    expect(resultTextBytes(text)).toBeUndefined();
  });
});

/**
 * A memory store whose completed records carry `resultText` and count reads of `result` (a getter), so
 * a test sees which of the two `run()` read.
 */
function textStore() {
  const inner = createMemoryStore();
  const reads = { texts: 0, result: 0 };
  const withText = (record: IdempotencyRecord): IdempotencyRecord => {
    if (record.state !== "completed") return record;
    const resultText = resultTextOf(record.result);
    if (resultText === undefined) return record;
    reads.texts++;
    const { result, ...rest } = record;
    return Object.defineProperty({ ...rest, resultText } as CompletedRecord, "result", {
      enumerable: true,
      get: () => {
        reads.result++;
        return result;
      },
    });
  };
  const store: IdempotencyStore = {
    ...inner,
    claim: async (key, request) => {
      const claimed = await inner.claim(key, request);
      return claimed.acquired ? claimed : { acquired: false, record: withText(claimed.record) };
    },
    complete: (key, token, outcome) => inner.complete(key, token, outcome),
    release: (key, token) => inner.release(key, token),
    extend: (key, token, leaseMs) => inner.extend(key, token, leaseMs),
    get: (key) => inner.get(key).then((record) => record && withText(record)),
    delete: (key) => inner.delete(key),
  };
  return { store, reads };
}

describe("run() replays from a store's result text", () => {
  it("reads a JSON value from the text and never the bytes", async () => {
    const { store, reads } = textStore();
    const idem = createIdempotency({ store });
    const value = { id: 7, note: "\u0000 \u0010 \\", payload: "x".repeat(70_000) };
    expect(await idem.run({ key: "k" }, () => value)).toEqual(value);
    expect(await idem.execute({ key: "k" }, () => "again")).toEqual({ value, replayed: true });
    expect(reads).toEqual({ texts: 1, result: 0 });
  });

  it("replays a value past ASCII, which has no text, from its bytes", async () => {
    const { store, reads } = textStore();
    const idem = createIdempotency({ store });
    await idem.run({ key: "k" }, () => "caf\u00e9");
    expect(await idem.run({ key: "k" }, () => "again")).toBe("caf\u00e9");
    expect(reads.texts).toBe(0);
  });

  it.each([
    ["undefined", undefined],
    ["bytes", bytes(1, 2, 0x10, 0)],
  ])("reads %s from the bytes, as before", async (_label, value) => {
    const { store, reads } = textStore();
    const idem = createIdempotency({ store });
    await idem.run({ key: "k" }, () => value);
    expect(await idem.execute({ key: "k" }, () => "again")).toEqual({ value, replayed: true });
    expect(reads.result).toBe(1);
  });

  it("leaves a custom codec the bytes", async () => {
    const { store, reads } = textStore();
    const codec = { encode: (v: string) => ascii(v), decode: (b: Uint8Array) => String.fromCharCode(...b) };
    const idem = createIdempotency({ store });
    await idem.run({ key: "k", codec }, () => "plain");
    expect(await idem.run({ key: "k", codec }, () => "again")).toBe("plain");
    expect(reads.result).toBe(1);
  });

  it("answers a value that could not be encoded as before: NotReplayableError", async () => {
    const { store } = textStore();
    const idem = createIdempotency({ store });
    await idem.run({ key: "k" }, () => 10n as unknown);
    await expect(idem.run({ key: "k" }, () => "again")).rejects.toBeInstanceOf(NotReplayableError);
  });
});
