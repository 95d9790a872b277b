// A store that declares `completesWithText` gets a JSON value's outcome as result text, its bytes built
// only if read; every other store, value and codec gets bytes as before (store.ts, `completesWithText`).
import { describe, expect, it, vi } from "vitest";
import { utf8BytesAfter } from "./bytes.js";
import { defaultCodec, encodeDefault } from "./codec.js";
import type { IdempotencyEvent } from "./events.js";
import { createIdempotency } from "./idempotency.js";
import { completeRequest, withLazyResult } from "./lazy-result.js";
import { createMemoryStore } from "./memory-store.js";
import { resultTextBytes } from "./result-text.js";
import type { CompleteRequest, IdempotencyStore } from "./store.js";

vi.mock("./result-text.js", async (importOriginal) => {
  const actual = await importOriginal<typeof import("./result-text.js")>();
  return { ...actual, resultTextBytes: vi.fn(actual.resultTextBytes) };
});
vi.mock("./bytes.js", async (importOriginal) => {
  const actual = await importOriginal<typeof import("./bytes.js")>();
  return { ...actual, utf8BytesAfter: vi.fn(actual.utf8BytesAfter) };
});

/** A memory store that keeps every completion request it gets, declaring `completesWithText` or not. */
function recordingStore(completesWithText: unknown) {
  const inner = createMemoryStore();
  const requests: CompleteRequest[] = [];
  const texts: (string | undefined)[] = [];
  const store: IdempotencyStore = {
    ...inner,
    complete(key, token, outcome) {
      requests.push(outcome);
      texts.push(outcome.resultText); // as it came: the memory store reads `result`, which drops it
      return inner.complete(key, token, outcome);
    },
  };
  Object.defineProperty(store, "completesWithText", { value: completesWithText });
  return { store, requests, texts };
}

/** What the envelope and the default codec make of `value`, as bytes (run.ts). */
const envelopeBytes = (value: unknown) => Uint8Array.from(encodeDefault(value, "\u0000"));
/** Bytes of any kind (a Buffer, say) as a plain array, to compare contents. */
const plain = (bytes: Uint8Array | undefined) => bytes && Uint8Array.from(bytes);

describe("a completion as result text", () => {
  it.each([
    ["an object", { id: 7, note: "a\u0000b\u0010c" }],
    ["a string", "plain"],
    ["a number", 42],
    ["null", null],
    ["64 KiB", { blob: "x".repeat(65_536) }],
  ])(
    "%s: a store that declares it gets the text, whose bytes are encodeDefault's, and the value replays",
    async (_l, value) => {
      const { store, requests, texts } = recordingStore(true);
      const idem = createIdempotency({ store });
      expect((await idem.execute({ key: "k" }, () => value)).value).toEqual(value);
      const [request] = requests;
      expect(texts).toEqual([`\u00100\u0001${JSON.stringify(value)}`]);
      expect(Object.keys(request ?? {})).not.toContain("resultText");
      expect(plain(request?.result)).toEqual(envelopeBytes(value)); // built when read, as encodeDefault writes them
      expect(await idem.execute({ key: "k" }, () => "again")).toEqual({ value, replayed: true });
    },
  );

  it("nothing in run() builds the bytes: a store that writes the text is the only reader", async () => {
    const inner = createMemoryStore();
    const store: IdempotencyStore = {
      ...inner,
      complete(key, token, { resultText, retentionMs }) {
        // The store's own reading of the text, not core's resultTextBytes (counted below).
        const bytes: number[] = [];
        const text = resultText ?? "";
        for (let at = 0; at < text.length; at++) {
          const escaped = text.charCodeAt(at) === 0x10;
          if (escaped) at++;
          bytes.push(escaped && text[at] === "0" ? 0 : text.charCodeAt(at));
        }
        return inner.complete(key, token, { result: Uint8Array.from(bytes), retentionMs });
      },
    };
    Object.defineProperty(store, "completesWithText", { value: true });
    const idem = createIdempotency({ store, onEvent: () => {} }); // listening: the completed event counts bytes
    vi.mocked(resultTextBytes).mockClear();
    vi.mocked(utf8BytesAfter).mockClear();
    const value = { a: "\u0000\u0010" };
    expect((await idem.execute({ key: "k" }, () => value)).value).toEqual(value);
    expect(resultTextBytes).not.toHaveBeenCalled(); // from the text
    expect(utf8BytesAfter).not.toHaveBeenCalled(); // from the value (encodeDefault)
    expect(await idem.execute({ key: "k" }, () => "again")).toEqual({ value, replayed: true });
  });

  it.each([
    ["a store that does not declare it", undefined, { a: 1 }],
    ["a store that declares it as anything but true", "yes", { a: 1 }],
    ["JSON past ASCII", true, { name: "żółć" }],
    ["bytes", true, Uint8Array.of(1, 2, 3)],
    ["undefined", true, undefined],
  ])("%s: bytes as before, no text", async (_label, declared, value) => {
    const { store, requests, texts } = recordingStore(declared);
    const idem = createIdempotency({ store });
    expect((await idem.execute({ key: "k" }, () => value)).value).toEqual(value);
    const [request] = requests;
    expect(texts).toEqual([undefined]);
    expect(plain(Object.getOwnPropertyDescriptor(request, "result")?.value)).toEqual(envelopeBytes(value));
  });

  it("a codec of the caller's gets bytes on a store that declares it", async () => {
    const { store, requests, texts } = recordingStore(true);
    const codec = { encode: () => Uint8Array.of(9), decode: () => "decoded" };
    await createIdempotency({ store }).execute({ key: "k", codec }, () => "v");
    expect(texts).toEqual([undefined]);
    expect(plain(requests[0]?.result)).toEqual(Uint8Array.of(0, 9));
    expect(codec).not.toBe(defaultCodec);
  });

  it("the completed event counts the bytes the text spells, escapes as one", async () => {
    const { store } = recordingStore(true);
    const idem = createIdempotency({ store });
    const events: IdempotencyEvent[] = [];
    idem.on((event) => void events.push(event));
    const value = { s: "\u0010" };
    await idem.execute({ key: "k" }, () => value);
    const completed = events.find((event) => event.type === "completed");
    expect(completed && "bytes" in completed && completed.bytes).toBe(envelopeBytes(value).length);
  });
});

describe("withLazyResult", () => {
  it("builds result once on first read, reads when frozen, and keeps resultText out of spreads", () => {
    const request = completeRequest("\u00100\u0001{}", 1000);
    expect(request).toEqual({ result: Uint8Array.of(0, 1, 0x7b, 0x7d), retentionMs: 1000 });
    expect(request.result).toBe(request.result);
    expect({ ...request }.resultText).toBeUndefined();
    expect(Object.freeze(completeRequest("ab", 1)).result).toEqual(Uint8Array.of(0x61, 0x62));
  });

  it("assigning result drops resultText, which no longer spells it; on a frozen object nothing changes", () => {
    const request = completeRequest("ab", 1);
    request.result = Uint8Array.of(1);
    expect(request.resultText).toBeUndefined();
    expect(request.result).toEqual(Uint8Array.of(1));
    const frozen: CompleteRequest = Object.freeze(completeRequest("ab", 1));
    expect(() => {
      frozen.result = Uint8Array.of(9);
    }).toThrow(TypeError);
    expect(frozen.resultText).toBe("ab");
    expect(frozen.result).toEqual(Uint8Array.of(0x61, 0x62));
  });

  it("resultText is gone once result is read (frozen too) or redefined: whoever got the bytes may change them", () => {
    const request = completeRequest("ab", 1);
    expect(request.resultText).toBe("ab");
    request.result[0] = 0x7a; // a wrapper that changes the bytes it was given
    expect(request.resultText).toBeUndefined();
    expect(request.result).toEqual(Uint8Array.of(0x7a, 0x62));
    const frozen = Object.freeze(completeRequest("ab", 1));
    frozen.result[0] = 0x7a;
    expect(frozen.resultText).toBeUndefined();
    const redefined = completeRequest("ab", 1);
    Object.defineProperty(redefined, "result", { value: Uint8Array.of(9), enumerable: true });
    expect(redefined.resultText).toBeUndefined();
  });

  it("a text that is not a result text throws when result is read", () => {
    expect(() => withLazyResult({}, "\u0010x").result).toThrow(/not an outcome's text/);
  });

  it("bytes stay plain data", () => {
    const bytes = Uint8Array.of(5);
    expect(Object.getOwnPropertyDescriptor(completeRequest(bytes, 1), "result")?.value).toBe(bytes);
  });
});
