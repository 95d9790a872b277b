import { isAsciiText, utf8Bytes, utf8BytesAfter } from "./bytes.js";

/** Turns a value into the opaque bytes a store keeps, and back. */
export interface Codec<T = unknown> {
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

// One tag byte, then the payload: raw bytes stay raw, so binary results round-trip exactly.
const UNDEFINED = 0;
const JSON_VALUE = 1;
const BYTES = 2;

const decoder = new TextDecoder();

/**
 * The default codec's bytes with `head` (ASCII, one byte a character) in front, in one allocation:
 * `run()` puts its envelope byte there instead of copying the codec's output into a larger array.
 */
export function encodeDefault(value: unknown, head: string): Uint8Array {
  if (value === undefined) return utf8Bytes(`${head}\u0000`);
  if (value instanceof Uint8Array) {
    const out = new Uint8Array(head.length + 1 + value.length);
    for (let i = 0; i < head.length; i++) out[i] = head.charCodeAt(i);
    out[head.length] = BYTES;
    out.set(value, head.length + 1);
    return out;
  }
  return utf8BytesAfter(`${head}\u0001`, jsonOf(value)); // the tag is U+0001: one byte, JSON_VALUE
}

/** `value` as JSON text, or a TypeError for a value JSON cannot hold. */
function jsonOf(value: unknown): string {
  const json = JSON.stringify(value);
  if (json === undefined) throw new TypeError(`Cannot encode a ${typeof value} as JSON`);
  return json;
}

/**
 * `encodeDefault(value, head)`, or for a JSON value whose text is ASCII, the same bytes as result text
 * (result-text.ts) with `textHead` in front, `head` as that text writes it: a store that keeps text
 * writes it as it is, and the bytes are built only for a store that reads them.
 */
export function encodeDefaultAsText(value: unknown, head: string, textHead: string): Uint8Array | string {
  if (value === undefined || value instanceof Uint8Array) return encodeDefault(value, head);
  const json = jsonOf(value);
  // JSON.stringify escapes every control character, so the text has no NUL or DLE to escape.
  if (isAsciiText(json)) {
    try {
      return `${textHead}\u0001${json}`;
    } catch {
      // Within the head's length of the longest string the engine makes: bytes have no such limit.
    }
  }
  return utf8BytesAfter(`${head}\u0001`, json);
}

/** `decodeDefaultJson`'s answer for text that does not hold a JSON value: decode the bytes. */
export const NOT_JSON: unique symbol = Symbol("idemkit.notJson");

/**
 * The default codec's value from its bytes given as ASCII text from `from` on, when they hold a JSON
 * value: parsed from a slice of `text`, with no copy of it made first.
 */
export function decodeDefaultJson(text: string, from: number): unknown {
  return text.charCodeAt(from) === JSON_VALUE ? JSON.parse(text.slice(from + 1)) : NOT_JSON;
}

/** The default codec: JSON for plain values, bytes for `Uint8Array`, and `undefined` kept as is. */
export const defaultCodec: Codec<unknown> = {
  encode: (value) => encodeDefault(value, ""),
  decode(bytes) {
    switch (bytes[0]) {
      case UNDEFINED:
        return undefined;
      case BYTES:
        return bytes.slice(1);
      case JSON_VALUE:
        return JSON.parse(decoder.decode(bytes.subarray(1)));
      default:
        throw new TypeError(`Unknown stored value tag ${bytes[0]}`);
    }
  },
};
