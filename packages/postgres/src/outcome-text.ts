import { isUtf8 } from "node:buffer";

// How an outcome's bytes are kept in the `result` text column. pg reads every field as text, so a
// `bytea` would leave the server encoded by it (hex, or base64 through encode()): for 64 KiB, 2–3× the
// read of a text column. Most outcomes are UTF-8 (JSON, HTTP responses of text), kept as themselves:
//   "t" + the bytes, with NUL (which text cannot hold) as DLE "0" and DLE itself as DLE DLE;
//   "b" + base64, for bytes that are not UTF-8.
// Both are sent as a Buffer, which pg passes as it is (binary format: for text, its bytes), where a
// string would first be converted to UTF-8.
const TEXT = 0x74; // "t"
const BASE64 = 0x62; // "b"
const ESCAPE = 0x10; // DLE: never in JSON's text (control characters are escaped there)
const ESCAPED_NUL = 0x30; // "0"

/** The next position at or after `from` holding NUL or DLE, or -1. */
function nextSpecial(bytes: Buffer, from: number): number {
  const nul = bytes.indexOf(0, from);
  const dle = bytes.indexOf(ESCAPE, from);
  return nul === -1 ? dle : dle === -1 ? nul : Math.min(nul, dle);
}

/** The outcome as the `result` column's text, as bytes for pg to send unconverted. */
export function encodeOutcome(outcome: Uint8Array): Buffer {
  const bytes = Buffer.from(outcome.buffer, outcome.byteOffset, outcome.byteLength);
  if (!isUtf8(bytes)) {
    const base64 = bytes.toString("base64");
    const out = Buffer.allocUnsafe(1 + base64.length);
    out[0] = BASE64;
    out.write(base64, 1, "latin1");
    return out;
  }
  let specials = 0;
  for (let at = nextSpecial(bytes, 0); at !== -1; at = nextSpecial(bytes, at + 1)) specials++;
  const out = Buffer.allocUnsafe(1 + bytes.length + specials);
  out[0] = TEXT;
  let to = 1;
  let from = 0;
  for (let at = nextSpecial(bytes, 0); at !== -1; at = nextSpecial(bytes, from)) {
    to += bytes.copy(out, to, from, at);
    out[to++] = ESCAPE;
    out[to++] = bytes[at] === 0 ? ESCAPED_NUL : ESCAPE;
    from = at + 1;
  }
  bytes.copy(out, to, from);
  return out;
}

/**
 * The outcome a `result` text holds, as a plain Uint8Array of its own (a small Buffer may share a
 * pooled allocation); `undefined` when the text is not one `encodeOutcome` writes.
 */
export function decodeOutcome(text: string): Uint8Array | undefined {
  const kind = text.charCodeAt(0);
  if (kind === BASE64) return fromBase64(text.slice(1));
  if (kind !== TEXT) return undefined;
  const body = text.slice(1);
  const bytes = new Uint8Array(Buffer.byteLength(body));
  const view = Buffer.from(bytes.buffer);
  view.write(body, "utf8");
  let at = view.indexOf(ESCAPE);
  if (at === -1) return bytes;
  // Unescape in place: every pair becomes one byte, so the write never passes the read.
  let to = at;
  let from = at;
  for (; at !== -1; at = view.indexOf(ESCAPE, from)) {
    to += view.copy(view, to, from, at);
    const escaped = view[at + 1];
    if (escaped !== ESCAPE && escaped !== ESCAPED_NUL) return undefined;
    view[to++] = escaped === ESCAPE ? ESCAPE : 0;
    from = at + 2;
  }
  to += view.copy(view, to, from);
  return bytes.subarray(0, to);
}

/** Base64 decoded, or `undefined` when it is not base64 (Node's decoder skips what is not: see the length). */
function fromBase64(base64: string): Uint8Array | undefined {
  const bytes = Buffer.from(base64, "base64");
  const padding = base64.endsWith("==") ? 2 : base64.endsWith("=") ? 1 : 0;
  if (base64.length % 4 !== 0 || bytes.length !== (base64.length / 4) * 3 - padding) return undefined;
  return new Uint8Array(bytes);
}
