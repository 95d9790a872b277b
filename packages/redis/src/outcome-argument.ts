// How an outcome travels to Redis: inline as a string when that is cheaper and exact, else as bytes;
// aside as a list of pieces after its mark and token.
import { isAscii } from "node:buffer";
import type { Argument } from "./clients.js";
import { OUTCOME_MARK } from "./record.js";

// Up to this size an ASCII outcome goes to the client as a string: ioredis builds a command of strings
// by concatenation, and copies every part of one that holds a Buffer into a new Buffer (13.0 against
// 10.2 µs of CPU per completion of 150 bytes; no gain at 8 KiB, a loss at 64 KiB). node-redis writes a
// Buffer as a chunk of its own, and a string only saves it that chunk.
const STRING_OUTCOME_BYTES = 4096;

/**
 * The outcome's bytes as a Buffer over its memory (any view: its bytes, not its elements); a Buffer as
 * it is (core's stored responses are), since making one costs ~6,000 instructions (bench HISTORY,
 * thirty-second round), unless it is empty: one whose memory was transferred away reads as empty, and
 * the wrapping throws rather than sending it as an empty outcome.
 */
const bytesOf = (result: Uint8Array) =>
  Buffer.isBuffer(result) && result.byteLength !== 0
    ? result
    : Buffer.from(result.buffer, result.byteOffset, result.byteLength);

/**
 * The outcome as a command argument. Below 0x80 a byte and the UTF-8 of its character are the same.
 * Shared memory goes as bytes: another thread could write a byte >= 0x80 between the check and the
 * copy, and its character would be sent as two.
 */
export function outcomeArgument(result: Uint8Array | string): Argument {
  // core's resultTextString (one ASCII character a byte), past the string size as bytes, as any other outcome
  if (typeof result === "string")
    return result.length <= STRING_OUTCOME_BYTES ? result : Buffer.from(result, "latin1");
  const bytes = bytesOf(result);
  const stringable = bytes.length <= STRING_OUTCOME_BYTES && !(bytes.buffer instanceof SharedArrayBuffer);
  return stringable && isAscii(bytes) ? bytes.toString("latin1") : bytes;
}

/**
 * The most bytes an outcome kept aside may have with its mark and token: the least `proto-max-bulk-len`
 * and `client-query-buffer-limit` Redis accepts are 1 MiB, and on a server at that least one string of 1
 * MiB less 2 to 8 bytes, sent with a script, lost its connection about one time in three (less 32 or more,
 * never), leaving what was sent with it unanswered. In pieces a longer outcome passed (an `RPUSHX` of 3 MiB
 * at that limit, Redis 7.0): not taken, the limit stays where one string is known to pass. Past it an
 * outcome goes inline, its argument no longer than the outcome itself.
 */
export const MAX_ASIDE_VALUE_BYTES = 1024 * 1024 - 1024;

/**
 * The size of an outcome's pieces in its outcome key's list (scripts.ts). Small enough that ioredis's
 * parser rarely copies one across socket reads (64 KiB in pieces of 4032 bytes: ~3 µs of Node CPU, of
 * 8000: ~25, of 16 KiB: ~55, whole: ~200; `bench/src/ioredis-parser-pieces.ts`), and sized so that Redis
 * packs two to a list node of its default 8 KiB (`list-max-listpack-size -2`): a 64 KiB outcome took
 * 66,496 bytes of Redis's memory as such a list, 65,584 as one string, and 80,560 in pieces of 4 KiB.
 */
export const PIECE_BYTES = 4032;

/** Whether `token`'s outcome of `bytes`, in pieces (asidePieces), is short enough to be kept aside. */
export const fitsAside = (token: string, bytes: number) =>
  1 + Buffer.byteLength(token) + bytes <= MAX_ASIDE_VALUE_BYTES;

/**
 * The list an outcome key holds (scripts.ts): "o" and the owner's token, then the outcome (bytes, or
 * `resultTextString`'s) in pieces of `PIECE_BYTES`, all views of one copy of it, which also makes shared
 * memory safe to send. Buffers even for a string: sent as a string, a 64 KiB value cost 2.5× the CPU at 64
 * in flight (ioredis, measured).
 */
export function asidePieces(token: string, result: Uint8Array | string): Buffer[] {
  const tokenBytes = Buffer.byteLength(token);
  const bytes = typeof result === "string" ? result.length : result.byteLength;
  const value = Buffer.allocUnsafe(1 + tokenBytes + bytes);
  value[0] = OUTCOME_MARK;
  value.write(token, 1, "utf8");
  if (typeof result === "string") value.write(result, 1 + tokenBytes, "latin1");
  else value.set(bytesOf(result), 1 + tokenBytes);
  const pieces = [value.subarray(0, 1 + tokenBytes)];
  for (let at = 1 + tokenBytes; at < value.length; at += PIECE_BYTES)
    pieces.push(value.subarray(at, Math.min(at + PIECE_BYTES, value.length)));
  return pieces;
}
