import type { IdempotencyRecord } from "@idemkit/core";
import { decodeText } from "./key.js";
import { describe } from "./options.js";
import { MAX_FENCE } from "./schema.js";

/** A row as the store's reads return it: binary columns as Buffers, numbers as decimal text. */
export interface RecordRow {
  state: unknown;
  token: Uint8Array;
  fingerprint: Uint8Array;
  fence: string;
  deadline: string;
  result: Uint8Array | null;
  takeover: unknown;
  /** The claim's read only: whether the row is live (1) or was left expired (0). */
  live?: unknown;
}

const INTEGER = /^-?[0-9]+$/;

/** A decimal column as a safe integer, or `undefined` when it is not one. */
function safeInteger(text: unknown): number | undefined {
  if (typeof text !== "string" || !INTEGER.test(text)) return undefined;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : undefined;
}

/**
 * Why a row read back cannot be a record (written by hand or by another program), or `undefined` when it
 * can. The columns' types rule out most of it, but not a state of another name, a fence below 1 or past
 * `MAX_FENCE` (the highest a claim can report), a deadline past 2^53 ms (a key in progress for ever), a completed row without its outcome. Such a
 * row fails the call (core answers 503 for that key); every other key works as before.
 */
export function malformed(row: RecordRow): string | undefined {
  if (row.state !== "in_progress" && row.state !== "completed") return `state is ${describe(row.state)}`;
  const fence = safeInteger(row.fence);
  if (fence === undefined || fence < 1 || fence > MAX_FENCE) return `fence is ${row.fence}`;
  if (safeInteger(row.deadline) === undefined) return `expires_at is ${row.deadline}`;
  if (row.state === "completed" && !(row.result instanceof Uint8Array)) return "result is NULL";
  if (!(row.token instanceof Uint8Array) || !(row.fingerprint instanceof Uint8Array)) {
    return "token or fingerprint is not binary (is the pool's typeCast changed?)";
  }
  return undefined;
}

/** The error of a call that read a row it cannot use: it names the key, the field and the remedy. */
export function malformedRow(operation: string, key: string, why: string): Error {
  return new Error(
    `@idemkit/mysql: ${operation}: the row of key ${describe(key)} is not an idemkit record (${why}); ` +
      "fix it, or remove it with store.delete(key)",
  );
}

/**
 * The row with its text columns as strings: a pool with `charset: "BINARY"` returns them as Buffers (the
 * state's ASCII and the numbers' digits read the same in any charset the store can be used with).
 */
export function asText(row: RecordRow): RecordRow {
  const text = (value: unknown) =>
    value instanceof Uint8Array ? Buffer.from(value).toString("latin1") : value;
  return {
    ...row,
    state: text(row.state),
    fence: text(row.fence) as string,
    deadline: text(row.deadline) as string,
  };
}

/** The row as a record, or a throw naming the key, what is wrong and the remedy (`malformed`). */
export function readRow(operation: string, key: string, raw: RecordRow): IdempotencyRecord {
  const row = asText(raw);
  const why = malformed(row);
  if (why !== undefined) throw malformedRow(operation, key, why);
  const token = Buffer.from(row.token).toString("utf8");
  const fingerprint = decodeText(Buffer.from(row.fingerprint).toString("utf8"));
  const fence = Number(row.fence);
  const deadline = Number(row.deadline);
  if (row.state === "completed") {
    // A plain Uint8Array copy: mysql2 hands back a Buffer that may share a larger allocation.
    const result = new Uint8Array(row.result ?? new Uint8Array(0));
    return { state: "completed", token, fingerprint, fence, result, expiresAt: deadline };
  }
  const takeover = Number(row.takeover) === 1;
  return { state: "in_progress", token, fingerprint, fence, leaseExpiresAt: deadline, takeover };
}
