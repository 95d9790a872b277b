// How large values travel between the store and Redis: the sizes from which they take another path,
// and the conversions on the way.
import { isAscii } from "node:buffer";
import type { Reply } from "./clients.js";

// Up to this size an ASCII outcome goes to the client as a string: ioredis builds a command of strings
// by concatenation, and copies every part of one that holds a Buffer into a new Buffer (13.0 against
// 10.2 µs of CPU per completion of 150 bytes; no gain at 8 KiB, a loss at 64 KiB). node-redis writes a
// Buffer as a chunk of its own, and a string only saves it that chunk.
const STRING_OUTCOME_BYTES = 4096;

// From this size an outcome is appended outside the scripts where the client allows (AFTER_APPEND):
// Redis copies every byte given to Lua, ~1.3 ns each per copy, which outgrows the transaction's cost.
export const APPENDED_OUTCOME_BYTES = 32_768;

// From this size a record a claim finds is read beside the claim's script, not through it (CLAIM_HEAD),
// on the claims that follow it, where the client allows: the record's bytes never enter Lua.
export const LARGE_RECORD_BYTES = 32_768;

/**
 * The outcome as a command argument. Below 0x80 a byte and the UTF-8 of its character are the same.
 * Shared memory goes as bytes: another thread could write a byte >= 0x80 between the check and the
 * copy, and its character would be sent as two.
 */
export function outcomeArgument(result: Uint8Array): string | Buffer {
  const bytes = Buffer.from(result.buffer, result.byteOffset, result.byteLength);
  const stringable = bytes.length <= STRING_OUTCOME_BYTES && !(bytes.buffer instanceof SharedArrayBuffer);
  return stringable && isAscii(bytes) ? bytes.toString("latin1") : bytes;
}

/** The reply of a completion appended between two scripts: Redis's refusal of the APPEND is the call's. */
export function appendedOutcome([appended, reply]: [Reply | Error, Reply | Error]): boolean {
  if (reply instanceof Error) throw appended instanceof Error ? appended : reply;
  return reply === 1;
}
