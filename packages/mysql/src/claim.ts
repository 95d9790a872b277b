import type { ClaimRequest, ClaimResult } from "@idemkit/core";
import { encodedBytes, keyHash } from "./key.js";
import { describe } from "./options.js";
import type { packetLimit } from "./packet-limit.js";
import { asText, malformed, malformedRow, type RecordRow, readRow } from "./records.js";
import { isLostRace, retryLostRaces } from "./retry.js";
import type { mysqlStatements, Queryable } from "./schema.js";
import { MAX_FENCE } from "./schema.js";

/** Tokens are core's UUIDs; the column holds 64 bytes, and a longer token must not be cut to fit. */
const MAX_TOKEN_BYTES = 64;

/**
 * Write-then-read rounds of one claim before it gives up: another round is needed only when the claim
 * left a live record that was gone by its read, which takes a lease ending, a release or a delete in that
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
  /** The server's `max_allowed_packet`, checked before the claim is sent. */
  packets: ReturnType<typeof packetLimit>;
}

/**
 * The claim: one atomic statement that takes the key or leaves it, and says which in its answer's insert
 * id (fence × 2 + takeover, or 0: see `sql.claim`). One round trip for a new key or a takeover. A claim
 * that left the key reads the live record in a second statement, the caller's own included (a claim
 * retried with the owner's token after a lost reply); if the record was gone by then (its lease ran out,
 * it was released or deleted), the claim runs again.
 */
export async function claimOn(
  { sql, db, retry, packets }: ClaimTarget,
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
  await packets.claim(operation, key, text.byteLength, fingerprint.byteLength);
  const lease = wholeMs(request.leaseMs);
  const retention = wholeMs(request.retentionMs);
  const values = [
    hash,
    text,
    token,
    fingerprint,
    lease,
    lease,
    retention,
    token,
    fingerprint,
    lease,
    retention,
    lease,
  ];
  const run = (statement: string, values: unknown[]) =>
    retryLostRaces(retry, () => db.query(statement, values));
  for (let round = 0; round < MAX_CLAIM_ROUNDS; round++) {
    let lostEveryTime: unknown;
    try {
      const [answer] = await run(sql.claim, values);
      const taken = Number(answer.insertId);
      if (taken > 0) return acquired(key, taken);
    } catch (error) {
      // Deadlocked on every attempt: the key is contended, so most likely live. Answer with it.
      if (!retry || !isLostRace(error)) throw error;
      lostEveryTime = error;
    }
    const [row]: RecordRow[] = (await run(sql.claimed, [hash]))[0];
    if (row !== undefined && Number(row.live) === 1) {
      return { acquired: false, record: readRow(operation, key, row) };
    }
    // Left expired: the claim does not write over a row it cannot read (else it expired in between).
    const why = row === undefined ? undefined : unclaimable(row);
    if (why !== undefined) throw malformedRow(operation, key, `${why}; the claim does not write over it`);
    if (lostEveryTime !== undefined) throw lostEveryTime;
  }
  throw new Error(
    `@idemkit/mysql: ${operation}: the live record of key ${describe(key)} was gone by the claim's read ` +
      `${MAX_CLAIM_ROUNDS} times in a row`,
  );
}

/** Why the claim left an expired row (the shape check of `sql.claim`), or `undefined`. */
function unclaimable(raw: RecordRow): string | undefined {
  const row = asText(raw);
  const why = malformed(row);
  if (why !== undefined) return why;
  return Number(row.fence) >= MAX_FENCE ? `fence is ${row.fence}, the highest a claim can report` : undefined;
}

/** The acquisition an insert id of fence × 2 + takeover says, or a throw when the fence cannot be one. */
function acquired(key: string, taken: number): ClaimResult {
  const fence = Math.floor(taken / 2);
  if (!Number.isSafeInteger(taken) || fence < 1)
    throw malformedRow("claim", key, `fence is ${fence} after the claim`);
  return { acquired: true, fence, takeover: taken % 2 === 1 };
}
