import { describe, expect, it } from "vitest";
import { defaultCodec, encodeDefault, encodeDefaultAsText } from "./codec.js";
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

describe("encodeDefaultAsText", () => {
  it("gives encodeDefault's bytes where the text would be longer than the longest string", () => {
    // A head that long stands in for JSON that long, which takes seconds to make and encode.
    const longest = 2 ** 29 - 24; // V8's String::kMaxLength on 64-bit
    expect(() => "x".repeat(longest + 1)).toThrow(RangeError);
    const encoded = encodeDefaultAsText({ a: 1 }, "\u0000", "x".repeat(longest - 1));
    expect(encoded).toEqual(encodeDefault({ a: 1 }, "\u0000"));
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

  // A head beyond ASCII (obs-text in a header value, the status text) takes more bytes than characters:
  // it round-trips whole, and the body after it starts where the head's bytes end.
  it.each([
    ["an ASCII head", "OK", [["x-a", "1"]]],
    ["a status text beyond ASCII", "Caf\u00e9", [["x-a", "1"]]],
    ["header values beyond ASCII", "OK", [["x-a", "\u00e9t\u00e9 \u00ff"]]],
  ] as const)("round-trip %s, the body after it intact", (_label, statusText, headers) => {
    const body = Buffer.from("h\u00e9llo, \u{1f600}");
    const stored = { status: 200, statusText, headers: headers as unknown as [string, string][], body };
    const decoded = decodeStoredResponse(encodeStoredResponse(stored));
    expect([decoded.statusText, decoded.headers]).toEqual([statusText, headers]);
    expect(Buffer.from(decoded.body)).toEqual(body);
  });

  it("decodes exactly the fields stored: the unreplayable marker and its cap only when stored", () => {
    const body = new Uint8Array([1, 2]);
    const plain = decodeStoredResponse(
      encodeStoredResponse({ status: 200, statusText: "OK", headers: [["x-a", "1"]], body }),
    );
    expect({ ...plain, body: Array.from(plain.body) }).toStrictEqual({
      status: 200,
      statusText: "OK",
      headers: [["x-a", "1"]],
      body: [1, 2],
    });
    const cut = decodeStoredResponse(
      encodeStoredResponse({
        status: 201,
        statusText: "",
        headers: [],
        body: new Uint8Array(0),
        unreplayable: "oversized",
        oversized: { bytes: 1024 },
      }),
    );
    expect({ ...cut, body: cut.body.length }).toStrictEqual({
      status: 201,
      statusText: "",
      headers: [],
      body: 0,
      unreplayable: "oversized",
      oversized: { bytes: 1024 },
    });
  });

  it("reject bytes that are not a stored response", () => {
    expect(() => decodeStoredResponse(new Uint8Array([1, 2, 3]))).toThrow(TypeError);
  });
});
