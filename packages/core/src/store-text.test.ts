import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeStoreText, encodeStoreText } from "./store-text.js";

describe("encodeStoreText", () => {
  it("round-trips any string, and its output holds no NUL and no lone surrogate", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (text) => {
        const stored = encodeStoreText(text);
        expect(decodeStoreText(stored)).toBe(text);
        expect(stored).not.toMatch(
          // biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is what must not be there
          /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/,
        );
      }),
    );
  });

  it("keeps ordinary text as it is and tells apart what it escapes from its escaped spelling", () => {
    expect(encodeStoreText("order-42 é 🔑")).toBe("order-42 é 🔑");
    const pairs = ["\u0000", "\\u0000", "\uD800", "\\uD800", "\\", "\\\\"];
    expect(new Set(pairs.map(encodeStoreText)).size).toBe(pairs.length);
  });
});
