// A row of the store's table as the store reads it: checked (`malformed`), turned into a record, and
// the bytes conversions both ways.
import type { IdempotencyRecord } from "@idemkit/core";
import { describe } from "./options.js";

export interface Row {
  state: "in_progress" | "completed";
  token: string;
  fingerprint: string;
  fence: number;
  result: Uint8Array | null;
  expires_at: number;
  takeover: number;
}

const EMPTY = new Uint8Array(0);

/** The `expires_at` of a released row: long past on any clock, so it reads as absent at once. */
export const RELEASED = Number.MIN_SAFE_INTEGER;

/** A plain Uint8Array view (not a Buffer, whose `slice` shares memory) of what SQLite returned. */
function bytes(blob: Uint8Array | null): Uint8Array {
  return blob ? new Uint8Array(blob.buffer, blob.byteOffset, blob.byteLength) : EMPTY.slice();
}

/**
 * `data` as better-sqlite3 binds a BLOB. It binds any Uint8Array, a view into a larger buffer as only
 * its own bytes, so one goes as it is: a Buffer made around it cost ~6,000 instructions a completion
 * (callgrind, bench HISTORY's thirty-second round). Anything else is wrapped as bytes, as before, and so
 * is an empty array: one whose memory was transferred away reads as empty, and the wrapping throws
 * rather than storing it as an empty outcome.
 */
export function blob(data: ArrayBufferView): Uint8Array {
  return data instanceof Uint8Array && data.byteLength !== 0
    ? data
    : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Why a row read back cannot be a record (a field of the wrong type, written by hand or by another
 * program), or `undefined` when it can. Such a row is never read as absent nor as live: the call
 * fails with `malformedRow`, so core answers 503 for that key, and the rest keeps working.
 */
export function malformed(row: Row): string | undefined {
  if (row.state !== "in_progress" && row.state !== "completed") return `state is ${describe(row.state)}`;
  if (typeof row.token !== "string") return `token is ${describe(row.token)}, not text`;
  if (typeof row.fingerprint !== "string") return `fingerprint is ${describe(row.fingerprint)}, not text`;
  if (!Number.isSafeInteger(row.fence) || row.fence < 1) return `fence is ${describe(row.fence)}`;
  if (typeof row.expires_at !== "number" || !Number.isFinite(row.expires_at)) {
    return `expires_at is ${describe(row.expires_at)}, not a number of milliseconds`;
  }
  if (row.state === "completed" && !(row.result instanceof Uint8Array)) {
    return `result is ${describe(row.result)}, not a BLOB`;
  }
  if (row.state === "in_progress" && row.takeover !== 0 && row.takeover !== 1) {
    return `takeover is ${describe(row.takeover)}`;
  }
  return undefined;
}

/** The error of a call that read a row it cannot use: it names the key, the field and the remedy. */
export function malformedRow(operation: string, key: string, why: string): Error {
  return new Error(
    `@idemkit/sqlite: ${operation}: the row of key ${describe(key)} is not an idemkit record (${why}); ` +
      "fix it, or remove it with store.delete(key)",
  );
}

/** The row as a record, or a throw when it cannot be one (`malformed`). */
export function readRow(operation: string, key: string, row: Row): IdempotencyRecord {
  const why = malformed(row);
  if (why !== undefined) throw malformedRow(operation, key, why);
  return toRecord(row);
}

export function toRecord(row: Row): IdempotencyRecord {
  const { token, fingerprint, fence } = row;
  return row.state === "completed"
    ? { state: "completed", token, fingerprint, fence, result: bytes(row.result), expiresAt: row.expires_at }
    : {
        state: "in_progress",
        token,
        fingerprint,
        fence,
        leaseExpiresAt: row.expires_at,
        takeover: row.takeover === 1,
      };
}
