import { describe, expect, it } from "vitest";
import { defaultCodec } from "./codec.js";
import { decodeStoredResponse, encodeStoredResponse } from "./http/stored-response.js";

describe("defaultCodec", () => {
  it.each([
    ["undefined", undefined],
    ["null", null],
    ["a number", 42],
    ["a string", "héllo"],
    ["an object", { a: [1, { b: "c" }] }],
  ])("round-trips %s", (_label, value) => {
    expect(defaultCodec.decode(defaultCodec.encode(value))).toEqual(value);
  });

  it("keeps binary values byte for byte", () => {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    const decoded = defaultCodec.decode(defaultCodec.encode(bytes));
    expect(decoded).toBeInstanceOf(Uint8Array);
    expect(Array.from(decoded as Uint8Array)).toEqual(Array.from(bytes));
  });

  it("refuses values JSON cannot hold", () => {
    expect(() => defaultCodec.encode(() => 1)).toThrow(TypeError);
    expect(() => defaultCodec.encode(10n)).toThrow(TypeError);
  });
});

describe("stored HTTP responses", () => {
  it("round-trip status, headers and binary body", () => {
    const body = Uint8Array.from({ length: 256 }, (_, i) => 255 - i);
    const stored = {
      status: 201,
      statusText: "Created",
      headers: [["x-a", "1"]] as [string, string][],
      body,
    };
    const decoded = decodeStoredResponse(encodeStoredResponse(stored));
    expect(decoded.status).toBe(201);
    expect(decoded.statusText).toBe("Created");
    expect(decoded.headers).toEqual([["x-a", "1"]]);
    expect(Array.from(decoded.body)).toEqual(Array.from(body));
  });

  it("reject bytes that are not a stored response", () => {
    expect(() => decodeStoredResponse(new Uint8Array([1, 2, 3]))).toThrow(TypeError);
  });
});
