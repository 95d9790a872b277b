import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { uninitializedBytes, utf8Bytes, utf8BytesAfter } from "./bytes.js";

describe("hot-path bytes", () => {
  it("encode UTF-8 exactly as TextEncoder does, lone surrogates included", () => {
    for (const text of ["", "plain", "é€😀", "\u0000\u0001{}", "\ud800 lone", "end \udfff"]) {
      expect(Array.from(utf8Bytes(text))).toEqual(Array.from(new TextEncoder().encode(text)));
    }
  });

  it("put a head before text as TextEncoder encodes the two joined, wherever text leaves ASCII", () => {
    const joined = (head: string, text: string) => Array.from(new TextEncoder().encode(head + text));
    // Each fills the ASCII-sized array at another point: a pair, a lone surrogate, a 3-byte character.
    for (const text of ["", "plain", "é", "ab😀", "ab\ud800", "x".repeat(70_000) + "€", "\udfff😀€é"]) {
      expect(Array.from(utf8BytesAfter("\u0000\u0001", text))).toEqual(joined("\u0000\u0001", text));
    }
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), fc.string({ unit: "binary-ascii" }), (text, tail) => {
        expect(Array.from(utf8BytesAfter("\u0001", text + tail))).toEqual(joined("\u0001", text + tail));
      }),
    );
  });

  it("allocate arrays of the size asked for", () => {
    expect(uninitializedBytes(0).length).toBe(0);
    expect(uninitializedBytes(100).length).toBe(100);
    expect(uninitializedBytes(100_000).length).toBe(100_000);
  });
});
