// The text a store may give beside a completed record's bytes (`CompletedRecord.resultText`): each byte
// as the ASCII character of its value, except NUL, which SQL text cannot hold, written DLE "0", and DLE
// itself, written DLE DLE. Only outcomes whose bytes are all ASCII have one. `run()` parses its JSON
// from a slice of the store's own string: the bytes, or a fresh string of a 64 KiB outcome, cost a
// PostgreSQL replay about as much CPU again (bench/HISTORY.md, the twenty-eighth round).

import { isAsciiText, latin1Bytes } from "./bytes.js";

/** The escape's bytes, for a store that writes the text itself. */
export const RESULT_TEXT_BYTES = { escape: 0x10, escapedNul: 0x30 } as const;
const ESCAPE = RESULT_TEXT_BYTES.escape;
const ESCAPED_NUL = RESULT_TEXT_BYTES.escapedNul;
/** DLE as text: where an escape starts. */
export const RESULT_TEXT_ESCAPE = "\u0010";

const ESCAPED_NUL_TEXT = "0";

/**
 * Whether `text` is a result text: ASCII, no NUL, and every DLE followed by "0" or DLE. Checks without
 * building the bytes, so a store can hand the text on and build them only if `result` is read.
 */
export function isResultText(text: string): boolean {
  if (!isAsciiText(text) || text.includes("\0")) return false;
  for (let at = text.indexOf(RESULT_TEXT_ESCAPE); at !== -1; at = text.indexOf(RESULT_TEXT_ESCAPE, at + 2)) {
    const escaped = text[at + 1];
    if (escaped !== ESCAPED_NUL_TEXT && escaped !== RESULT_TEXT_ESCAPE) return false;
  }
  return true;
}

/** The bytes a result text spells, in a plain array of their own; `undefined` when it is not one. */
export function resultTextBytes(text: string): Uint8Array | undefined {
  if (!isResultText(text)) return undefined;
  const bytes = latin1Bytes(text);
  // Unescape in place: every pair becomes one byte, so the write never passes the read.
  let at = bytes.indexOf(ESCAPE);
  if (at === -1) return bytes;
  let to = at;
  let from = at;
  for (; at !== -1; at = bytes.indexOf(ESCAPE, from)) {
    bytes.copyWithin(to, from, at);
    to += at - from;
    bytes[to++] = bytes[at + 1] === ESCAPED_NUL ? 0 : ESCAPE;
    from = at + 2;
  }
  bytes.copyWithin(to, from);
  return bytes.subarray(0, to + bytes.length - from);
}

/**
 * The bytes a result text spells as a string of one character a byte (a store that sends strings takes
 * it as the bytes, with no array built); `undefined` when it is not a result text.
 */
export function resultTextString(text: string): string | undefined {
  if (!isResultText(text)) return undefined;
  let unescaped = "";
  let from = 0;
  for (let at = text.indexOf(RESULT_TEXT_ESCAPE); at !== -1; at = text.indexOf(RESULT_TEXT_ESCAPE, from)) {
    unescaped += text.slice(from, at) + (text[at + 1] === ESCAPED_NUL_TEXT ? "\u0000" : RESULT_TEXT_ESCAPE);
    from = at + 2;
  }
  return from === 0 ? text : unescaped + text.slice(from);
}

/** How many bytes a result text spells: one for each escape pair, one for every other character. */
export function resultTextByteLength(text: string): number {
  let length = text.length;
  for (let at = text.indexOf(RESULT_TEXT_ESCAPE); at !== -1; at = text.indexOf(RESULT_TEXT_ESCAPE, at + 2))
    length--;
  return length;
}

/** `bytes` as result text, or `undefined` when one is not ASCII. */
export function resultTextOf(bytes: Uint8Array): string | undefined {
  let text = "";
  for (const byte of bytes) {
    if (byte > 0x7f) return undefined;
    if (byte === 0) text += `${RESULT_TEXT_ESCAPE}${ESCAPED_NUL_TEXT}`;
    else if (byte === ESCAPE) text += `${RESULT_TEXT_ESCAPE}${RESULT_TEXT_ESCAPE}`;
    else text += String.fromCharCode(byte);
  }
  return text;
}
