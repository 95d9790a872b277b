import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import {
  canonicalJson,
  canonicalJsonText,
  canonicalParsedJson,
  fingerprintRequest,
  fingerprintRequestSoon,
  sha256HexSoon,
} from "./fingerprint.js";

const enc = (s: string) => new TextEncoder().encode(s);
const json = "application/json";
/** SHA-256 by Web Crypto, as lowercase hex: an oracle independent of the code under test. */
const webHex = async (bytes: Uint8Array) => {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
};

describe("canonicalJson", () => {
  it("sorts keys at every depth and drops undefined members", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: undefined } })).toBe(
      '{"a":{"d":[3,{"y":2,"z":1}]},"b":1}',
    );
  });

  it("says what JSON.stringify says of any value, keys sorted: toJSON (dates), dropped and null members", () => {
    const at = new Date("2026-11-28T12:00:00.000Z");
    expect(canonicalJson({ at, f: () => 1, s: Symbol("x"), list: [undefined, () => 1, 2] })).toBe(
      '{"at":"2026-11-28T12:00:00.000Z","list":[null,null,2]}',
    );
    // Two inputs that differ only in a date must not share a fingerprint.
    expect(canonicalJson({ at })).not.toBe(canonicalJson({ at: new Date(0) }));
    const withToJson = { toJSON: (key: string) => ({ key, z: 1, a: 2 }) };
    expect(canonicalJson({ nested: withToJson })).toBe('{"nested":{"a":2,"key":"nested","z":1}}');
    const values = [0, -1.5, "x\u2028", true, null, [1, { b: 2, a: [null] }], { "": 1, é: { y: [], x: {} } }];
    for (const value of values)
      expect(JSON.parse(canonicalJson(value))).toEqual(JSON.parse(JSON.stringify(value)));
  });
  it("orders any number of keys as sort() orders strings (a few by insertion, many by sort)", () => {
    // Keys of any UTF-16 code units: integer-like ones (which objects enumerate first), surrogates.
    const key = fc.oneof(fc.string({ unit: "binary", maxLength: 4 }), fc.nat({ max: 99 }).map(String));
    fc.assert(
      fc.property(fc.uniqueArray(key, { maxLength: 40 }), (keys) => {
        const value = Object.fromEntries(keys.map((k, i) => [k, i]));
        const expected = `{${Object.keys(value)
          .sort()
          .map((k) => `${JSON.stringify(k)}:${value[k]}`)
          .join(",")}}`;
        expect(canonicalJson(value)).toBe(expected);
        // The same members as JSON text, in the order given (or reversed), sort the same way.
        const text = (order: string[]) =>
          `{${order.map((k) => `${JSON.stringify(k)}:${value[k]}`).join(",")}}`;
        expect(canonicalJsonText(text(keys))).toBe(expected);
        expect(canonicalJsonText(text([...keys].reverse()))).toBe(expected);
      }),
      { numRuns: 1000 },
    );
  });
});

describe("canonicalJson of values (the parsed-body path)", () => {
  // Any JSON-like value: strings of any UTF-16 code units (lone surrogates, control characters,
  // quotes), any double (NaN, infinities, -0), keys of any kind, dates, undefined members, bigints.
  const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
  const text = fc.oneof(
    fc.string({ unit: "binary", maxLength: 12 }),
    fc.string({ unit: codeUnit, maxLength: 12 }),
  );
  const leaf = fc.oneof(
    text,
    fc.bigInt(),
    fc.double(),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    fc.date({ noInvalidDate: true }),
  );
  const value = fc.letrec((tie) => ({
    any: fc.oneof({ depthSize: "small" }, leaf, tie("list"), tie("object")),
    list: fc.array(tie("any"), { maxLength: 5 }),
    object: fc.dictionary(fc.oneof(text, fc.nat({ max: 20 }).map(String)), tie("any"), { maxKeys: 5 }),
  })).any;

  it("gives what the previous implementation gave, for any value (stored fingerprints stay valid)", () => {
    // The text, or the error thrown (a bigint, outside a parsed body, throws as JSON.stringify does).
    const outcome = (f: () => string) => {
      try {
        return f();
      } catch (error) {
        return `${(error as Error).name}: ${(error as Error).message}`;
      }
    };
    fc.assert(
      fc.property(value, (v) => {
        expect(outcome(() => canonicalJson(v))).toBe(outcome(() => previousCanonical(v, "", undefined)));
        expect(canonicalParsedJson(v)).toBe(previousCanonical(v, "", new Set()));
      }),
      { numRuns: 3000 },
    );
    const big = { n: 12n, list: [-0, Number.NaN, 1e21, 5e-7, "\u2028\ud800"] };
    expect(canonicalParsedJson(big)).toBe(previousCanonical(big, "", new Set()));
    expect(() => canonicalJson({ n: 1n })).toThrow(TypeError);
  });

  it("quotes plain keys, strings and numbers without a call to JSON.stringify", () => {
    const stringify = vi.spyOn(JSON, "stringify");
    try {
      expect(canonicalJson({ key: "order-1", amount: 4200, currency: "EUR", tags: ["a"] })).toBe(
        '{"amount":4200,"currency":"EUR","key":"order-1","tags":["a"]}',
      );
      expect(stringify).not.toHaveBeenCalled();
      expect(canonicalJson({ 'a"b': "\n" })).toBe('{"a\\"b":"\\n"}');
      expect(stringify).toHaveBeenCalledTimes(2);
    } finally {
      stringify.mockRestore();
    }
  });
});

describe("fingerprintRequest", () => {
  it("ignores JSON key order and whitespace", async () => {
    const a = await fingerprintRequest("POST", "/orders", json, enc('{"a":1,"b":[1,2]}'));
    const b = await fingerprintRequest("POST", "/orders", json, enc('{ "b": [1, 2], "a": 1 }'));
    expect(a).toBe(b);
  });

  it("binds method, path and query", async () => {
    const body = enc('{"a":1}');
    const base = await fingerprintRequest("POST", "/orders", json, body);
    expect(await fingerprintRequest("PATCH", "/orders", json, body)).not.toBe(base);
    expect(await fingerprintRequest("POST", "/payments", json, body)).not.toBe(base);
    expect(await fingerprintRequest("POST", "/orders?dry=1", json, body)).not.toBe(base);
    // The target as routed: `//x/orders` is a path, never a host, so it is not `/orders`.
    expect(await fingerprintRequest("POST", "//x/orders", json, body)).not.toBe(base);
  });

  it("treats non-JSON bodies byte for byte", async () => {
    const a = await fingerprintRequest("POST", "/u", "text/plain", enc("a b"));
    const b = await fingerprintRequest("POST", "/u", "text/plain", enc("a  b"));
    expect(a).not.toBe(b);
    // A JSON body and the same text sent as raw bytes are different requests.
    const j = await fingerprintRequest("POST", "/u", json, enc("1"));
    const r = await fingerprintRequest("POST", "/u", "text/plain", enc("1"));
    expect(j).not.toBe(r);
  });

  it("fingerprints a parsed value by its canonical JSON, whatever the content type", async () => {
    const form = (value: unknown) =>
      fingerprintRequest("POST", "/f", "application/x-www-form-urlencoded", {
        canonicalJson: canonicalJson(value),
      });
    expect(await form({ b: "2", a: "1" })).toBe(await form({ a: "1", b: "2" }));
    expect(await form({ a: "1" })).not.toBe(await form({ a: "2" }));
  });

  it("falls back to bytes for invalid JSON", async () => {
    const a = await fingerprintRequest("POST", "/u", json, enc("{oops"));
    const b = await fingerprintRequest("POST", "/u", json, enc("{oops "));
    expect(a).not.toBe(b);
  });
});

describe("sha256HexSoon", () => {
  it("matches the standard vector and Web Crypto, for strings (UTF-8) and bytes", async () => {
    expect(await sha256HexSoon("abc")).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
    for (const input of ["", "abc", "héllo ✓ 𝄞", enc("raw:\u0000\u00ff")]) {
      expect(await sha256HexSoon(input)).toBe(await webHex(typeof input === "string" ? enc(input) : input));
    }
  });
});

describe("the Soon variants (hot paths await only the Web Crypto fallback)", () => {
  // Node 20.16+ (process.getBuiltinModule); on a Web Crypto runtime they return promises.
  it.skipIf(typeof process.getBuiltinModule !== "function")(
    "answer at once in Node, the same digest as the async ones",
    async () => {
      for (const input of ["", "abc", "héllo ✓ 𝄞", enc("raw:\u0000\u00ff")]) {
        const soon = sha256HexSoon(input);
        expect(typeof soon).toBe("string");
        expect(soon).toBe(await webHex(typeof input === "string" ? enc(input) : input));
      }
      const multipart = "multipart/form-data; boundary=x1";
      for (const [type, body] of [
        [json, enc('{"b":1,"a":[2]}')],
        [json, enc("{oops")],
        ["text/plain", enc("a b")],
        [multipart, enc("--x1\r\n\r\nv\r\n--x1--")],
        [undefined, new Uint8Array(0)],
        ["application/x-www-form-urlencoded", { canonicalJson: canonicalJson({ b: "2", a: "1" }) }],
      ] as const) {
        const soon = fingerprintRequestSoon("POST", "/orders?x=1", type, body);
        expect(typeof soon).toBe("string");
        expect(soon).toBe(await fingerprintRequest("POST", "/orders?x=1", type, body));
      }
    },
  );
});

describe("canonicalJsonText", () => {
  it("sorts members, drops whitespace, normalises string escapes and keeps numbers exact", () => {
    expect(canonicalJsonText(' { "b" : [1, 2.50, -0, 1e400] , "a":"\\u0041\\n" } ')).toBe(
      '{"a":"A\\n","b":[1,2.50,-0,1e400]}',
    );
  });

  it("gives what the previous implementation gave, for any JSON text (stored fingerprints stay valid)", () => {
    const texts = fc.oneof(
      fc.json(),
      fc.jsonValue().map((v) => JSON.stringify(v, null, 1)),
      fc.string({ unit: "binary" }).map((s) => JSON.stringify({ [s]: s, a: [s, 1e-7, -0] })),
      fc.string({ unit: "grapheme" }),
      // Raw (unescaped) text of any UTF-16 code units, lone surrogates included, as a string and a key.
      fc
        .string({ unit: fc.integer({ min: 0x20, max: 0xffff }).map((c) => String.fromCharCode(c)) })
        .map((raw) => raw.replace(/["\\]/g, ""))
        .map((raw) => `{"${raw}":"${raw}"}`),
    );
    fc.assert(
      fc.property(texts, (text) => {
        const outcome = (f: (t: string) => string) => {
          try {
            return f(text);
          } catch (error) {
            return error instanceof SyntaxError ? "SyntaxError" : String(error);
          }
        };
        expect(outcome(canonicalJsonText)).toBe(outcome(previousCanonicalJsonText));
      }),
      { numRuns: 2000 },
    );
  });

  it.each(['{"a":1,"a":2}', '{"a":1', "[1,]", "01", '"\\x"', "1 2", "tru"])("refuses %s", (text) => {
    expect(() => canonicalJsonText(text)).toThrow(SyntaxError);
  });
});

describe("fingerprints never merge different JSON requests", () => {
  const fp = (bytes: Uint8Array | string) =>
    fingerprintRequest("POST", "/p", json, typeof bytes === "string" ? enc(bytes) : bytes);
  it.each([
    [
      "invalid UTF-8",
      Uint8Array.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]),
      Uint8Array.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xfe, 0x22, 0x7d]),
    ],
    ["large integers", "9007199254740993", "9007199254740992"],
    ["out-of-range numbers", "1e400", "null"],
    ["duplicate keys", '{"a":1,"a":2}', '{"a":2}'],
    ["precision", "0.1", "0.10000000000000001"],
  ])("%s", async (_label, a, b) => {
    expect(await fp(a)).not.toBe(await fp(b));
  });
});

/**
 * The canonical JSON text of idemkit 0.x before the fast path (kept verbatim, for a test only):
 * fingerprints already stored were computed with it, so the current one must agree on every input.
 */
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
// JSON forbids raw control characters (U+0000–U+001F) inside strings.
// biome-ignore lint/suspicious/noControlCharactersInRegex: excluding them is the point
const STRING = /"(?:[^"\\\u0000-\u001f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"/y;
const LITERAL = /true|false|null/y;

/**
 * Canonical form of a JSON text, losslessly: object members sorted by key and whitespace dropped,
 * while numbers keep their exact source text (no float rounding) and string escapes are normalised.
 * Throws on invalid JSON and on duplicate keys (whose meaning parsers disagree on).
 */
function previousCanonicalJsonText(text: string): string {
  let i = 0;
  const fail = (): never => {
    throw new SyntaxError(`Not canonicalisable JSON at position ${i}`);
  };
  const skipSpace = () => {
    while (i < text.length && " \t\n\r".includes(text[i]!)) i++;
  };
  const token = (pattern: RegExp): string => {
    pattern.lastIndex = i;
    const match = pattern.exec(text);
    if (match === null) return fail();
    i = pattern.lastIndex;
    return match[0];
  };
  const value = (): string => {
    skipSpace();
    const c = text[i];
    if (c === "{") {
      i++;
      const members: [string, string][] = [];
      const seen = new Set<string>();
      skipSpace();
      if (text[i] === "}") {
        i++;
        return "{}";
      }
      for (;;) {
        skipSpace();
        const name = JSON.parse(token(STRING)) as string;
        if (seen.has(name)) fail();
        seen.add(name);
        skipSpace();
        if (text[i++] !== ":") fail();
        members.push([name, value()]);
        skipSpace();
        const next = text[i++];
        if (next === "}") break;
        if (next !== ",") fail();
      }
      members.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${members.map(([name, v]) => `${JSON.stringify(name)}:${v}`).join(",")}}`;
    }
    if (c === "[") {
      i++;
      const items: string[] = [];
      skipSpace();
      if (text[i] === "]") {
        i++;
        return "[]";
      }
      for (;;) {
        items.push(value());
        skipSpace();
        const next = text[i++];
        if (next === "]") break;
        if (next !== ",") fail();
      }
      return `[${items.join(",")}]`;
    }
    if (c === '"') return JSON.stringify(JSON.parse(token(STRING)));
    if (c === "t" || c === "f" || c === "n") return token(LITERAL);
    return token(NUMBER);
  };
  const result = value();
  skipSpace();
  if (i !== text.length) fail();
  return result;
}

describe("multipart bodies", () => {
  const upload = (boundary: string, content: string) =>
    enc(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\n${content}\r\n--${boundary}--\r\n`,
    );
  const fp = (boundary: string, content: string, quoted = false) =>
    fingerprintRequest(
      "POST",
      "/upload",
      `multipart/form-data; boundary=${quoted ? `"${boundary}"` : boundary}`,
      upload(boundary, content),
    );

  it("are the same request whatever boundary the client picked for a retry", async () => {
    expect(await fp("----a1b2", "hello")).toBe(await fp("----zz99", "hello"));
    expect(await fp("x-1", "hello", true)).toBe(await fp("y-2", "hello"));
  });

  it("differ when a part differs", async () => {
    expect(await fp("----a1b2", "hello")).not.toBe(await fp("----a1b2", "hellO"));
  });
});

describe("fingerprintRequest digests", () => {
  const joined = (...parts: (string | Uint8Array)[]) =>
    new Uint8Array(Buffer.concat(parts.map((part) => (typeof part === "string" ? enc(part) : part))));

  it("is the SHA-256 of the head and the tagged body, on every path (stored fingerprints stay valid)", async () => {
    const cases: [Parameters<typeof fingerprintRequest>, Uint8Array][] = [
      [
        ["POST", "/o?x=é", json, enc('{ "b": 1, "a": "✓" }')],
        joined("POST /o?x=é\n", 'json:{"a":"✓","b":1}'),
      ],
      [["PUT", "/o", undefined, { canonicalJson: '{"a":1}' }], joined("PUT /o\n", 'json:{"a":1}')],
      [["POST", "/o", "text/plain", enc("a b")], joined("POST /o\n", "raw:", enc("a b"))],
      [
        ["POST", "/o", json, new Uint8Array([0xff, 0x7b])],
        joined("POST /o\n", "raw:", new Uint8Array([0xff, 0x7b])),
      ],
      [["DELETE", "/o/\ud800", undefined, new Uint8Array(0)], joined("DELETE /o/\ud800\n", "raw:")],
    ];
    for (const [args, bytes] of cases) expect(await fingerprintRequest(...args)).toBe(await webHex(bytes));
    // And one written out, so a change of the scheme itself cannot pass unnoticed.
    expect(await fingerprintRequest("POST", "/o", undefined, new Uint8Array(0))).toBe(
      "a9c6f4fc7af7a3cd94c49ec0741247b90688a0ff851de7838e9f5deb370c8d5f",
    );
  });
});

/**
 * `canonicalJson`'s value path as it was before strings and numbers were quoted without
 * `JSON.stringify` (kept for a test only), but for its key sort: `sort()` here, which orders keys as the
 * package's own sort does (tested above).
 */
function previousCanonical(value: unknown, key: string, path: Set<object> | undefined): string {
  if (value !== null && typeof value === "object" && typeof (value as Jsonable).toJSON === "function") {
    value = (value as Jsonable).toJSON(key);
  }
  if (path !== undefined && typeof value === "bigint") return JSON.stringify(`${value}n`);
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (path !== undefined) {
    if (path.has(value)) return '"[Circular]"';
    if (typeof (value as { pipe?: unknown }).pipe === "function") return '"[Stream]"';
    path.add(value);
  }
  let out: string;
  if (Array.isArray(value)) {
    out = "[";
    for (let i = 0; i < value.length; i++)
      out += (i === 0 ? "" : ",") + previousCanonical(value[i], String(i), path);
    out += "]";
  } else {
    const record = value as Record<string, unknown>;
    out = "{";
    for (const name of Object.keys(record).sort()) {
      const member = record[name];
      if (member === undefined || typeof member === "function" || typeof member === "symbol") continue;
      out += `${out.length === 1 ? "" : ","}${JSON.stringify(name)}:${previousCanonical(member, name, path)}`;
    }
    out += "}";
  }
  path?.delete(value);
  return out;
}

type Jsonable = { toJSON(key: string): unknown };
