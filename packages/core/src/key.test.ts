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
    ['"a,b"', "a,b"],
    ["8e03978e-40d5-43e8-bc93-6894a57f9324", "8e03978e-40d5-43e8-bc93-6894a57f9324"],
    ["urn:order/42", "urn:order/42"],
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
    ["with space", "bare with a space"],
    ["a=b", "bare with a character no token has"],
  ])("rejects %s (%s)", (header) => {
    expect(() => parseIdempotencyKey(header)).toThrow(InvalidKeyError);
  });

  it.each([
    ["k, k", /more than one/i],
    ['"k", "k"', /more than one/i],
    ['"a,b", "c"', /more than one/i],
    ['"k";p=1', /parameters/i],
    ["k;p=1", /parameters/i],
  ])("refuses %s: one key, no parameters", (header, message) => {
    expect(() => parseIdempotencyKey(header)).toThrow(message);
  });
});

describe("composeStoredKey", () => {
  it("is injective across scope and key boundaries", () => {
    expect(composeStoredKey("p:", "http", "a:b", "c")).not.toBe(composeStoredKey("p:", "http", "a", "b:c"));
    expect(composeStoredKey("p:", "http", "", "1:a:b")).not.toBe(composeStoredKey("p:", "http", "a", "b"));
  });

  it("keeps HTTP keys and run() keys apart", () => {
    expect(composeStoredKey("p:", "http", "", "msg-1042")).not.toBe(
      composeStoredKey("p:", "run", "", "msg-1042"),
    );
  });

  it("refuses lone surrogates, which UTF-8 stores would merge", () => {
    expect(() => composeStoredKey("p:", "http", "\uD800", "k")).toThrow(TypeError);
    expect(() => composeStoredKey("p:", "run", "", "k\uDC00")).toThrow(TypeError);
    expect(composeStoredKey("p:", "http", "🔑", "k")).toBe("p:http:2:🔑:k");
  });
});
