/**
 * Deterministic JSON: object keys sorted at every depth, so key order never changes a fingerprint.
 * Otherwise what `JSON.stringify` gives: `toJSON` is honoured (a `Date` is its ISO string), and
 * `undefined`, functions and symbols are dropped from objects and become `null` in arrays.
 */
export function canonicalJson(value: unknown, key = ""): string {
  return canonical(value, key, undefined);
}

/**
 * `canonicalJson` for a value a body parser made, which may be anything: a cycle (a multipart
 * parser's parts that point back at the body) becomes `"[Circular]"`, a stream `"[Stream]"`, a
 * bigint its digits with an `n`. Never throws for such values, and stays deterministic.
 */
export function canonicalParsedJson(value: unknown): string {
  return canonical(value, "", new Set());
}

function canonical(value: unknown, key: string, path: Set<object> | undefined): string {
  if (value !== null && typeof value === "object" && typeof (value as Jsonable).toJSON === "function") {
    value = (value as Jsonable).toJSON(key);
  }
  if (typeof value === "string") return quoted(value);
  // JSON's text of a finite number is `String(n)`, by the spec.
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : "null";
  if (path !== undefined && typeof value === "bigint") return quoted(`${value}n`);
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (path !== undefined) {
    if (path.has(value)) return '"[Circular]"';
    if (typeof (value as { pipe?: unknown }).pipe === "function") return '"[Stream]"';
    path.add(value);
  }
  let out: string;
  if (Array.isArray(value)) {
    out = "[";
    for (let i = 0; i < value.length; i++) out += (i === 0 ? "" : ",") + canonical(value[i], String(i), path);
    out += "]";
  } else {
    const record = value as Record<string, unknown>;
    out = "{";
    for (const name of sortedByName(Object.keys(record), (name) => name)) {
      const member = record[name];
      if (member === undefined || typeof member === "function" || typeof member === "symbol") continue;
      out += `${out.length === 1 ? "" : ","}${quoted(name)}:${canonical(member, name, path)}`;
    }
    out += "}";
  }
  path?.delete(value);
  return out;
}

type Jsonable = { toJSON(key: string): unknown };

/**
 * What may need an escape in JSON: `"`, `\\`, U+0000–U+001F, and surrogates (`JSON.stringify` escapes
 * lone ones and keeps pairs: it tells them apart).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/**
 * `JSON.stringify(text)`, without the call for a string that needs no escape (most strings): each call
 * enters V8's C++ serializer (measured: the fingerprint's canonical JSON of a 3-member body in 42% less
 * time, of a nested one in 37% less).
 */
const quoted = (text: string) => (NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : `"${text}"`);

/** Above this many, `Array.prototype.sort`; at or below it, an insertion sort that allocates nothing. */
const FEW = 16;

/**
 * `items` sorted in place by `name`, in UTF-16 code unit order (as `sort()` orders strings). Most
 * bodies' objects have a few members, and V8's sort allocates about a kilobyte of work space per
 * call (measured with the HTTP bench's allocation sampling): most of the garbage a fingerprint made.
 */
function sortedByName<T>(items: T[], name: (item: T) => string): T[] {
  if (items.length > FEW) return items.sort((a, b) => (name(a) < name(b) ? -1 : name(a) > name(b) ? 1 : 0));
  for (let i = 1; i < items.length; i++) {
    const item = items[i]!;
    const key = name(item);
    let j = i - 1;
    for (; j >= 0 && name(items[j]!) > key; j--) items[j + 1] = items[j]!;
    items[j + 1] = item;
  }
  return items;
}

interface NodeHash {
  update(data: Uint8Array | string): NodeHash;
  digest(encoding: "hex"): string;
}

// Node (≥ 20.16), Bun and Deno expose their crypto module through `process.getBuiltinModule`, whose
// synchronous hash costs a fraction of `crypto.subtle.digest` (in Node an async job on the thread
// pool: most of the CPU time of a request on a fast store). Elsewhere, Web Crypto. The one-shot
// `hash()` (Node ≥ 20.12) makes no `Hash` object: each of those is a native handle the garbage
// collector must visit (measured: 0.5 µs against 0.9–1.8 µs a fingerprint, most of it collection).
const nodeCrypto = (
  globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }
).process?.getBuiltinModule?.("node:crypto") as
  | {
      createHash?: (algorithm: string) => NodeHash;
      hash?: (algorithm: string, data: Uint8Array | string, encoding: "hex") => string;
    }
  | undefined;
const createHash = typeof nodeCrypto?.createHash === "function" ? nodeCrypto.createHash : undefined;
const oneShotHash = typeof nodeCrypto?.hash === "function" ? nodeCrypto.hash : undefined;

/** Whether `sha256HexSoon` answers at once (a string) on this runtime, not with a promise. */
export const hashesAtOnce = oneShotHash !== undefined || createHash !== undefined;

/**
 * Lowercase hex SHA-256 of `data` (a string is hashed as its UTF-8 bytes): a string where the runtime
 * hashes synchronously (Node, Bun, Deno), so a caller on the hot path awaits only the Web Crypto
 * fallback, not a promise per fingerprint.
 */
export function sha256HexSoon(data: Uint8Array | string): string | Promise<string> {
  if (oneShotHash) return oneShotHash("sha256", data, "hex");
  if (createHash) return createHash("sha256").update(data).digest("hex");
  return webSha256Hex(data);
}

async function webSha256Hex(data: Uint8Array | string): Promise<string> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

const isJsonType = (contentType: string | undefined) =>
  contentType !== undefined && /[/+]json\b/i.test(contentType);

/**
 * Fingerprint of an HTTP request: method, the target as routed (path and query), and the body. A
 * body given as bytes counts byte for byte, except JSON (by content type), which is canonicalised:
 * key order and whitespace do not matter. A body a parser already turned into a value is given as
 * that value's `canonicalJson` (whatever its content type: form fields in any order are one body).
 */
export async function fingerprintRequest(
  method: string,
  target: string,
  contentType: string | undefined,
  body: Uint8Array | { canonicalJson: string },
): Promise<string> {
  return fingerprintRequestSoon(method, target, contentType, body);
}

/** `fingerprintRequest`, as a string where the runtime hashes synchronously (see `sha256HexSoon`). */
export function fingerprintRequestSoon(
  method: string,
  target: string,
  contentType: string | undefined,
  body: Uint8Array | { canonicalJson: string },
): string | Promise<string> {
  let canonicalBody: string | undefined;
  if (!(body instanceof Uint8Array)) {
    canonicalBody = `json:${body.canonicalJson}`;
  } else if (body.length > 0 && isJsonType(contentType)) {
    try {
      canonicalBody = `json:${canonicalJsonText(STRICT_UTF8.decode(body))}`;
    } catch {
      canonicalBody = undefined; // not valid UTF-8 JSON, or a duplicate key: fall back to the bytes
    }
  }
  const head = `${method} ${target}\n`;
  const raw = body instanceof Uint8Array ? withoutBoundary(body, contentType) : EMPTY;
  // The same digest as of the concatenated bytes below: a text body in one string, raw bytes fed
  // to one hash after the head rather than copied behind it.
  if (oneShotHash && canonicalBody !== undefined) return oneShotHash("sha256", head + canonicalBody, "hex");
  if (oneShotHash && raw.length === 0) return oneShotHash("sha256", head + RAW_TAG, "hex");
  if (createHash) {
    const hash = createHash("sha256").update(head);
    if (canonicalBody !== undefined) hash.update(canonicalBody);
    else hash.update(RAW).update(raw);
    return hash.digest("hex");
  }
  const encoder = new TextEncoder();
  const tail = canonicalBody !== undefined ? encoder.encode(canonicalBody) : concat(RAW, raw);
  return webSha256Hex(concat(encoder.encode(head), tail));
}

const EMPTY = new Uint8Array(0);
const RAW_TAG = "raw:";
const RAW = new TextEncoder().encode(RAW_TAG);
const BOUNDARY = /^\s*multipart\/[^;]*;(?:.*;)?\s*boundary=(?:"([^"]+)"|([^;\s]+))/i;
const NO_BOUNDARY = new TextEncoder().encode("idemkit-boundary");

/**
 * A multipart body with its boundary replaced by a constant: a client that retries an upload picks
 * a new boundary each time, and the same parts must stay the same request.
 */
function withoutBoundary(body: Uint8Array, contentType: string | undefined): Uint8Array {
  const match = contentType === undefined ? null : BOUNDARY.exec(contentType);
  if (match === null) return body;
  const boundary = new TextEncoder().encode(match[1] ?? match[2]);
  const parts: Uint8Array[] = [];
  let from = 0;
  for (let at = indexOf(body, boundary, 0); at !== -1; at = indexOf(body, boundary, from)) {
    parts.push(body.subarray(from, at), NO_BOUNDARY);
    from = at + boundary.length;
  }
  if (parts.length === 0) return body;
  parts.push(body.subarray(from));
  return concat(...parts);
}

function indexOf(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  const first = needle[0]!;
  for (
    let i = haystack.indexOf(first, from);
    i !== -1 && i <= haystack.length - needle.length;
    i = haystack.indexOf(first, i + 1)
  ) {
    let j = 1;
    while (j < needle.length && haystack[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
  }
  return -1;
}
const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true });

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
// JSON forbids raw control characters (U+0000–U+001F) inside strings.
// biome-ignore lint/suspicious/noControlCharactersInRegex: excluding them is the point
const STRING = /"(?:[^"\\\u0000-\u001f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"/y;
const LITERAL = /true|false|null/y;
/** A string token that is already canonical: no escapes, no surrogates (which `JSON.stringify` may escape). */
const PLAIN_STRING = /^"[^\\\ud800-\udfff]*"$/;

/**
 * Canonical form of a JSON text, losslessly: object members sorted by key and whitespace dropped,
 * while numbers keep their exact source text (no float rounding) and string escapes are normalised.
 * Throws on invalid JSON and on duplicate keys (whose meaning parsers disagree on).
 */
export function canonicalJsonText(text: string): string {
  let i = 0;
  const fail = (): never => {
    throw new SyntaxError(`Not canonicalisable JSON at position ${i}`);
  };
  const skipSpace = () => {
    for (let c = text.charCodeAt(i); c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d; )
      c = text.charCodeAt(++i);
  };
  const token = (pattern: RegExp): string => {
    pattern.lastIndex = i;
    const match = pattern.exec(text);
    if (match === null) return fail();
    i = pattern.lastIndex;
    return match[0];
  };
  /** A string token's canonical text; most need no parsing at all. */
  const string = (): string => {
    const raw = token(STRING);
    return PLAIN_STRING.test(raw) ? raw : JSON.stringify(JSON.parse(raw));
  };
  const value = (): string => {
    skipSpace();
    const c = text.charCodeAt(i);
    if (c === 0x7b /* { */) {
      i++;
      skipSpace();
      if (text.charCodeAt(i) === 0x7d /* } */) {
        i++;
        return "{}";
      }
      // [name as a JS string, canonical "name":value] per member
      const members: [string, string][] = [];
      for (;;) {
        skipSpace();
        const raw = token(STRING);
        const plain = PLAIN_STRING.test(raw);
        const name = plain ? raw.slice(1, -1) : (JSON.parse(raw) as string);
        skipSpace();
        if (text.charCodeAt(i++) !== 0x3a /* : */) fail();
        members.push([name, `${plain ? raw : JSON.stringify(name)}:${value()}`]);
        skipSpace();
        const next = text.charCodeAt(i++);
        if (next === 0x7d /* } */) break;
        if (next !== 0x2c /* , */) fail();
      }
      sortedByName(members, ([name]) => name);
      let out = "{";
      for (let m = 0; m < members.length; m++) {
        // Sorted, so a duplicate key sits next to its twin.
        if (m > 0 && members[m]![0] === members[m - 1]![0]) fail();
        out += (m === 0 ? "" : ",") + members[m]![1];
      }
      return `${out}}`;
    }
    if (c === 0x5b /* [ */) {
      i++;
      skipSpace();
      if (text.charCodeAt(i) === 0x5d /* ] */) {
        i++;
        return "[]";
      }
      let out = "[";
      for (;;) {
        out += (out.length === 1 ? "" : ",") + value();
        skipSpace();
        const next = text.charCodeAt(i++);
        if (next === 0x5d /* ] */) break;
        if (next !== 0x2c /* , */) fail();
      }
      return `${out}]`;
    }
    if (c === 0x22 /* " */) return string();
    if (c === 0x74 || c === 0x66 || c === 0x6e /* t f n */) return token(LITERAL);
    return token(NUMBER);
  };
  const result = value();
  skipSpace();
  if (i !== text.length) fail();
  return result;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
