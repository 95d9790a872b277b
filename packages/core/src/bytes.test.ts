import { describe, expect, it } from "vitest";
import { uninitializedBytes, utf8Bytes } from "./bytes.js";

describe("hot-path bytes", () => {
  it("encode UTF-8 exactly as TextEncoder does, lone surrogates included", () => {
    for (const text of ["", "plain", "é€😀", "\u0000\u0001{}", "\ud800 lone", "end \udfff"]) {
      expect(Array.from(utf8Bytes(text))).toEqual(Array.from(new TextEncoder().encode(text)));
    }
  });

  it("allocate arrays of the size asked for", () => {
    expect(uninitializedBytes(0).length).toBe(0);
    expect(uninitializedBytes(100).length).toBe(100);
    expect(uninitializedBytes(100_000).length).toBe(100_000);
  });
});
