import { describe, expect, it } from "vitest";
import { InvalidKeyError } from "./errors.js";
import { composeStoredKey, parseIdempotencyKey } from "./key.js";

describe("parseIdempotencyKey", () => {
  it.each([
    ['"abc"', "abc"],
    ["abc", "abc"],
    ['  "8e03978e-40d5-43e8-bc93-6894a57f9324"  ', "8e03978e-40d5-43e8-bc93-6894a57f9324"],
    ['"a\\"b"', 'a"b'],
    ['"a\\\\b"', "a\\b"],
    ['"with space"', "with space"],
    [`"${"x".repeat(255)}"`, "x".repeat(255)],
  ])("accepts %s", (header, key) => {
    expect(parseIdempotencyKey(header)).toBe(key);
  });

  it.each([
    ["", "empty"],
    ['""', "empty quoted"],
    ["   ", "blank"],
    [`"${"x".repeat(256)}"`, "256 characters"],
    ["x".repeat(256), "256 bare characters"],
    ['"abc', "unterminated"],
    ['"abc"def', "trailing characters"],
    ['"a\\nb"', "bad escape"],
    ['"ключ"', "non-ASCII"],
    ['"tab\there"', "control character"],
    ['ab"c', "bare with quote"],
  ])("rejects %s (%s)", (header) => {
    expect(() => parseIdempotencyKey(header)).toThrow(InvalidKeyError);
  });
});

describe("composeStoredKey", () => {
  it("is injective across scope and key boundaries", () => {
    expect(composeStoredKey("p:", "a:b", "c")).not.toBe(composeStoredKey("p:", "a", "b:c"));
    expect(composeStoredKey("p:", "", "1:a:b")).not.toBe(composeStoredKey("p:", "a", "b"));
  });

  it("refuses lone surrogates, which UTF-8 stores would merge", () => {
    expect(() => composeStoredKey("p:", "\uD800", "k")).toThrow(TypeError);
    expect(() => composeStoredKey("p:", "", "k\uDC00")).toThrow(TypeError);
    expect(composeStoredKey("p:", "🔑", "k")).toBe("p:2:🔑:k");
  });
});
