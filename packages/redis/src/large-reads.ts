// Claims of keys whose records are large, answered without the record passing through Lua.
import type { ClaimResult, IdempotencyRecord } from "@idemkit/core";
import type { Argument, Connection, Reply } from "./clients.js";
import { ASIDE_STATE, type Aside, decode, Malformed } from "./record.js";
import { CLAIM_IF_ABSENT, type Script } from "./scripts.js";

/**
 * An outcome of this many bytes or more is kept aside (scripts.ts), and a live record that large, or
 * one kept aside, makes the next claims read first (see `largeReads`). Every byte a script reads costs
 * Redis ~1.6 ns to become a Lua string and a reply again, against one more command: replays of 4 KiB
 * records ran 1.01–1.26× as fast read first, of 8 KiB 1.20–1.30× (bench/HISTORY.md).
 */
export const LARGE_RECORD_BYTES = 8 * 1024;

/** What the reads use of the store. */
export interface LargeReadDependencies {
  connection: Connection;
  run(operation: string, script: Script, key: string, args: string[]): Promise<Reply>;
  bounded<T>(operation: string, reply: Promise<T>): Promise<T>;
}

/** A script's reply that is a live record, its outcome kept aside: [record, outcome key's list]. */
export const isKeptAside = (reply: Reply): reply is [Buffer, Buffer[] | null] =>
  Array.isArray(reply) && reply.length === 2 && Buffer.isBuffer(reply[0]) && typeof reply[1] !== "number";

/**
 * After a claim met a live record of `largeBytes` or more, or one whose outcome is kept aside, the next
 * claims send a plain `GET` of the key, an `LRANGE` of its outcome key and, behind them on the same
 * connection and in the same write, `CLAIM_IF_ABSENT`: it acquires a key that has no record, as the claim script would,
 * and otherwise returns Redis's time without reading the value. A record that the `GET` read and that is
 * live at that later time was live when it was read: the claim script, run then, would have returned it,
 * so the claim returns it too; an outcome kept aside must hold the record's token (record.ts), so it is
 * that record's, whatever ran between the two reads. Both ways it is one round trip as ever, and the bytes
 * skip Lua (a 64 KiB replay ran ~1.3–1.7× as fast, bench/HISTORY.md). Anything else (a record past its
 * deadline, a value that is no record of ours, another type, a key created between the commands, an
 * outcome not the record's) goes to `claimByScript`, which decides as it always does: one more round
 * trip. Nothing is written but what the claim script would write.
 *
 * Only where the `GET` reads the master that the script runs on: standalone clients (`read`). On a
 * Cluster a slot migrating between the two commands could run them on different nodes and clocks.
 * Reads stop at the next claim that meets a smaller record or acquires its key.
 */
export function largeReads(deps: LargeReadDependencies, largeBytes = LARGE_RECORD_BYTES) {
  const { connection, run, bounded } = deps;
  const { read, readList } = connection;
  let active = false;

  return {
    /** Whether the next claim, of any key, should read first (one switch for the store). */
    get active(): boolean {
      return active && read !== undefined;
    },

    /** Reads on after a claim by script met a live record of `largeBytes` or more, or one kept aside. */
    met(reply: Reply): void {
      active = (Buffer.isBuffer(reply) && reply.length >= largeBytes) || isKeptAside(reply);
    },

    /** The claim of `key`, whose record and outcome are at `keys` (the same key when it has none). */
    claim(
      key: string,
      [recordKey, outcomeKey]: [string, Argument],
      args: string[],
      claimByScript: () => Promise<ClaimResult>,
      acquired: (reply: Reply) => ClaimResult,
    ): Promise<ClaimResult> {
      let value!: Promise<Buffer | null | undefined>;
      let aside: Promise<Aside | undefined> = Promise.resolve(undefined);
      let claimed!: Promise<Reply>;
      // A reconnect between the two replies may have sent the script to another server (ioredis resends
      // what was unanswered, to wherever it reconnected): its clock cannot judge what the GET read.
      const connected = connection.connections?.();
      connection.together(() => {
        // A refusal (another type) is the script's to answer; no answer fails the claim as the script's would.
        const get = <T>(reply: Promise<T>) =>
          bounded(
            "claim",
            reply.catch((error: unknown) => {
              if (connection.isErrorReply(error)) return undefined;
              throw error;
            }),
          );
        value = get((read as NonNullable<typeof read>)(recordKey));
        if (outcomeKey !== recordKey && readList !== undefined) aside = get(readList(outcomeKey));
        claimed = run("claim", CLAIM_IF_ABSENT, key, args);
      });
      return Promise.all([value, aside, claimed]).then(([found, kept, reply]) => {
        if (typeof reply !== "number") {
          active = false;
          return acquired(reply);
        }
        const sameServer = connection.connections?.() === connected;
        const record = Buffer.isBuffer(found) && sameServer ? liveAt(found, kept, reply) : undefined;
        if (record === undefined) return claimByScript();
        active = (found as Buffer).length >= largeBytes || (found as Buffer)[0] === ASIDE_STATE;
        return { acquired: false, record };
      });
    },
  };
}

/**
 * The record in `value` (with `aside`, its outcome key's list) if it is one of ours and live at `now`
 * (Redis's ms), as the claim script judges.
 */
function liveAt(value: Buffer, aside: Aside | undefined, now: number): IdempotencyRecord | undefined {
  let record: IdempotencyRecord;
  try {
    record = decode(value, aside);
  } catch (error) {
    if (error instanceof Malformed) return undefined; // the script names it
    throw error;
  }
  const deadline = record.state === "completed" ? record.expiresAt : record.leaseExpiresAt;
  return deadline > now ? record : undefined;
}
