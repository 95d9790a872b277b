import { randomBytes } from "node:crypto";
import type { ClaimRequest, ClaimResult } from "@idemkit/core";
import { encodedBytes, keyHash } from "./key.js";
import { describe } from "./options.js";
import { claimedFence, type RecordRow, readRow } from "./records.js";
import { isLostRace, retryLostRaces } from "./retry.js";
import type { mysqlStatements, Queryable } from "./schema.js";

/** Tokens are core's UUIDs; the column holds 64 bytes, and a longer token must not be cut to fit. */
const MAX_TOKEN_BYTES = 64;

/**
 * Write-then-read rounds of one claim before it gives up: another round is needed only when the row
 * changes between the two statements, which takes a lease ending, a release or a delete in that
 * instant, each time.
 */
const MAX_CLAIM_ROUNDS = 100;

/** A duration as whole milliseconds: a fractional one is rounded up, so a deadline is never early. */
export const wholeMs = (ms: number) => Math.ceil(ms);

/** Where a claim runs: the statements, the pool or connection, and whether a lost race may run again. */
export interface ClaimTarget {
  sql: ReturnType<typeof mysqlStatements>;
  db: Queryable;
  /** `true` on a pool (each statement on its own); `false` inside a transaction a deadlock ends whole. */
  retry: boolean;
}

/**
 * The claim in two statements: an atomic write that takes the key or leaves it (`sql.claim`), then a
 * read of the row it left. The write stores a random nonce only when it takes the key, so the read
 * tells this attempt's win from a live record, the caller's own included (a claim retried with the
 * owner's token after a lost reply). If the row changed in between (its lease ran out, it was released
 * or deleted), the read can say neither, and the claim runs again.
 */
export async function claimOn(
  { sql, db, retry }: ClaimTarget,
  operation: string,
  key: string,
  request: ClaimRequest,
): Promise<ClaimResult> {
  const hash = keyHash(key);
  const token = Buffer.from(request.token, "utf8");
  if (token.byteLength > MAX_TOKEN_BYTES) {
    throw new RangeError(`@idemkit/mysql: ${operation}: token longer than ${MAX_TOKEN_BYTES} bytes`);
  }
  const text = encodedBytes(key);
  const fingerprint = encodedBytes(request.fingerprint);
  const lease = wholeMs(request.leaseMs);
  const retention = wholeMs(request.retentionMs);
  const run = (statement: string, values: unknown[]) =>
    retryLostRaces(retry, () => db.execute(statement, values));
  for (let round = 0; round < MAX_CLAIM_ROUNDS; round++) {
    const nonce = randomBytes(16);
    const values = [hash, text, token, fingerprint, lease, lease, retention, nonce];
    values.push(token, fingerprint, nonce, lease, retention, lease);
    let lostEveryTime: unknown;
    try {
      await run(sql.claim, values);
    } catch (error) {
      // Deadlocked on every attempt: the key is contended, so most likely live. Answer with it.
      if (!retry || !isLostRace(error)) throw error;
      lostEveryTime = error;
    }
    const rows: (RecordRow & { mine: unknown; live: unknown })[] = (await run(sql.claimed, [nonce, hash]))[0];
    const row = rows[0];
    if (row !== undefined && Number(row.mine) === 1) {
      return { acquired: true, fence: claimedFence(key, row), takeover: Number(row.takeover) === 1 };
    }
    if (row !== undefined && Number(row.live) === 1) {
      return { acquired: false, record: readRow(operation, key, row) };
    }
    if (lostEveryTime !== undefined) throw lostEveryTime;
  }
  throw new Error(
    `@idemkit/mysql: ${operation}: the row of key ${describe(key)} changed between the claim's write and ` +
      `its read ${MAX_CLAIM_ROUNDS} times in a row`,
  );
}
