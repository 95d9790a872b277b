import { isAscii } from "node:buffer";
import { type CompleteRequest, isResultText, RESULT_TEXT_BYTES, resultTextBytes } from "@idemkit/core";

// How an outcome's bytes are kept. pg reads every field as text, so a `bytea` leaves the server encoded
// by it (hex, or base64 through encode()): for 64 KiB, 2–3× the read of a text column. An outcome that
// is all ASCII (most JSON) goes to the `outcome` text column instead, encoded by the client:
//   "t" + core's result text of the bytes (NUL, which text cannot hold, as DLE "0", DLE as DLE DLE),
// which a read hands to core as the record's `resultText`.
// Only ASCII: it is the same bytes in every client encoding PostgreSQL converts to, and pg decodes it
// fastest (64 KiB of multi-byte UTF-8 took pg 90–250 µs, against 9 for ASCII). Other outcomes stay in
// `outcome_bytes`, written unencoded: written as base64 text, a 130 KiB one cost Node ~240 µs and the
// server ~360 more. The text is sent as a Buffer, which pg passes as it is (binary format: for text,
// its bytes) where a string would first be converted. From core's result text of a JSON value (given
// beside bytes not yet built) that Buffer is the one copy of the outcome outside the heap. Reads select `outcome_bytes` as "B" + the server's
// base64. A build in between wrote "b" + base64 in the text column.
/** Each kind's letter, first in the text; schema.ts writes them into SQL. */
export const KIND = {
  text: "t",
  base64: "b",
  /** `outcome_bytes` as encode(…, 'base64') writes it, in lines: only in reads, never stored. */
  serverBase64: "B",
} as const;
const TEXT = KIND.text.charCodeAt(0);
const BASE64 = KIND.base64.charCodeAt(0);
const SERVER_BASE64 = KIND.serverBase64.charCodeAt(0);
const { escape: ESCAPE, escapedNul: ESCAPED_NUL } = RESULT_TEXT_BYTES; // DLE never is in JSON's text

/** Where NUL and DLE occur in `bytes`, in order: each kind is searched for once from its last find. */
function specials(bytes: Buffer): number[] {
  const found: number[] = [];
  let nul = bytes.indexOf(0);
  let dle = bytes.indexOf(ESCAPE);
  while (nul !== -1 || dle !== -1) {
    if (dle === -1 || (nul !== -1 && nul < dle)) {
      found.push(nul);
      nul = bytes.indexOf(0, nul + 1);
    } else {
      found.push(dle);
      dle = bytes.indexOf(ESCAPE, dle + 1);
    }
  }
  return found;
}

/**
 * An ASCII outcome as the `outcome` column's text, as bytes for pg to send unconverted; `undefined` for
 * any other outcome, which goes to `outcome_bytes` as it is.
 */
export function outcomeText(outcome: Uint8Array): Buffer | undefined {
  const bytes = asBuffer(outcome);
  if (!isAscii(bytes)) return undefined;
  const escapes = specials(bytes);
  const out = Buffer.allocUnsafe(1 + bytes.length + escapes.length);
  out[0] = TEXT;
  let to = 1;
  let from = 0;
  for (const at of escapes) {
    to += bytes.copy(out, to, from, at);
    out[to++] = ESCAPE;
    out[to++] = bytes[at] === 0 ? ESCAPED_NUL : ESCAPE;
    from = at + 1;
  }
  bytes.copy(out, to, from);
  return out;
}

/**
 * A completion's `outcome` text from core's result text, when it gives one that is a result text: the
 * letter and the text written into one Buffer (each character one byte), the bytes never built.
 * `undefined` otherwise. As a string, a 64 KiB new key cost 1.3–1.5× the CPU at 256 in flight; with the
 * letter joined by the statement (`'t' || $3`), the server 2.3–2.7 ms a write against 1.4–1.5.
 */
export function completionText(outcome: CompleteRequest): Buffer | undefined {
  const { resultText } = outcome;
  if (resultText === undefined || !isResultText(resultText)) return undefined;
  const text = Buffer.allocUnsafe(1 + resultText.length);
  text[0] = TEXT;
  text.write(resultText, 1, "latin1");
  return text;
}

/**
 * The outcome an `outcome` text holds, as a plain Uint8Array of its own (a small Buffer may share a
 * pooled allocation); `undefined` when the text is not one the store writes.
 */
export function decodeOutcome(text: string): Uint8Array | undefined {
  const kind = text.charCodeAt(0);
  if (kind === SERVER_BASE64) return new Uint8Array(Buffer.from(text.slice(1), "base64")); // a bytea's
  if (kind === BASE64) return fromBase64(text.slice(1));
  return kind === TEXT ? resultTextBytes(text.slice(1)) : undefined;
}

/**
 * An ASCII outcome's result text, the `outcome` text after its "t" (a slice of it: no copy), without
 * building its bytes; `undefined` for other kinds and for a text the store does not write.
 */
export function outcomeResultText(text: string): string | undefined {
  if (text.charCodeAt(0) !== TEXT) return undefined;
  const resultText = text.slice(1);
  return isResultText(resultText) ? resultText : undefined;
}

/**
 * Base64 decoded, or `undefined` unless it is exactly what `toString("base64")` writes: Node's decoder
 * skips what is not base64 (caught by the length), takes the URL-safe alphabet too and ignores the
 * last character's spare bits (caught by encoding the last bytes again).
 */
function fromBase64(base64: string): Uint8Array | undefined {
  const bytes = Buffer.from(base64, "base64");
  const padding = base64.endsWith("==") ? 2 : base64.endsWith("=") ? 1 : 0;
  if (base64.length % 4 !== 0 || bytes.length !== (base64.length / 4) * 3 - padding) return undefined;
  if (base64.includes("-") || base64.includes("_")) return undefined;
  const lastGroup = bytes.subarray(bytes.length - ((3 - padding) % 3 || 3));
  if (bytes.length > 0 && lastGroup.toString("base64") !== base64.slice(-4)) return undefined;
  return new Uint8Array(bytes);
}

/**
 * A Buffer over the same bytes, which pg sends as they are (binary format); a Buffer as it is (core's
 * stored responses are), since making one costs ~6,000 instructions (bench HISTORY, thirty-second round),
 * unless it is empty: one whose memory was transferred away reads as empty, and the wrapping throws
 * rather than sending it as an empty outcome.
 */
export const asBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) && bytes.byteLength !== 0
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
