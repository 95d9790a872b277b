// Claims of keys whose records are large, answered without the record passing through Lua.
import type { ClaimResult, IdempotencyRecord } from "@idemkit/core";
import type { Connection, Reply } from "./clients.js";
import { decode, Malformed } from "./record.js";
import { CLOCK, type Script } from "./scripts.js";

/**
 * A live record of this many bytes or more makes the next claims read first (see `largeReads`).
 * Every byte a script reads costs Redis ~1.6 ns to become a Lua string and a reply again; the read's
 * extra command costs ~10 µs in all, so below ~6 KiB it would not pay.
 */
export const LARGE_RECORD_BYTES = 16 * 1024;

/** What the reads use of the store. */
export interface LargeReadDependencies {
  connection: Connection;
  prefix: string;
  run(operation: string, script: Script, key: string, args: string[]): Promise<Reply>;
  bounded<T>(operation: string, reply: Promise<T>): Promise<T>;
}

/**
 * After a claim met a live record of `largeBytes` or more, the next claims send a plain `GET` of the
 * key and, behind it on the same connection and in the same write, `CLOCK` (Redis's time, by a script
 * on the key, so on the key's node). A record that the `GET` read and that is live at that later time
 * was live when it was read: the claim script, run then, would have returned it, so the claim returns
 * it too, one round trip as ever, while the bytes skip Lua (a 64 KiB replay ran ~2× as fast, measured
 * in bench/README.md). Anything else (no key, a record past its deadline, a value that is no record of
 * ours, another type) goes to `claimByScript`, which decides as it always does: one more round trip.
 * Nothing is written, so nothing can be replayed out of order by a client's reconnect.
 *
 * Only where the `GET` reads the master that the script runs on: standalone clients (`read`). On a
 * Cluster a slot migrating between the two commands could run them on different nodes and clocks.
 * Reads stop at the next claim that meets a smaller record or acquires the key (a new key after large
 * replays pays the one extra round trip once).
 */
export function largeReads(deps: LargeReadDependencies, largeBytes = LARGE_RECORD_BYTES) {
  const { connection, prefix, run, bounded } = deps;
  const read = connection.read;
  let active = false;

  return {
    /** Whether the next claim of `key` should read first. */
    get active(): boolean {
      return active && read !== undefined;
    },

    /** What a claim by script returned: a live record of `largeBytes` or more turns the reads on. */
    met(reply: Reply): void {
      active = Buffer.isBuffer(reply) && reply.length >= largeBytes;
    },

    claim(key: string, claimByScript: () => Promise<ClaimResult>): Promise<ClaimResult> {
      let value!: Promise<Buffer | null | undefined>;
      let clock!: Promise<Reply>;
      connection.together(() => {
        // A refusal (another type) is the script's to answer; no answer fails the claim as the script's would.
        value = bounded(
          "claim",
          (read as NonNullable<typeof read>)(prefix + key).catch((error: unknown) => {
            if (connection.isErrorReply(error)) return undefined;
            throw error;
          }),
        );
        clock = run("claim", CLOCK, key, []);
      });
      return Promise.all([value, clock]).then(([found, now]) => {
        const record = Buffer.isBuffer(found) && typeof now === "number" ? liveAt(found, now) : undefined;
        if (record === undefined) return claimByScript();
        active = (found as Buffer).length >= largeBytes;
        return { acquired: false, record };
      });
    },
  };
}

/** The record in `value` if it is one of ours and live at `now` (Redis's ms), as the claim script judges. */
function liveAt(value: Buffer, now: number): IdempotencyRecord | undefined {
  let record: IdempotencyRecord;
  try {
    record = decode(value);
  } catch (error) {
    if (error instanceof Malformed) return undefined; // the script names it
    throw error;
  }
  const deadline = record.state === "completed" ? record.expiresAt : record.leaseExpiresAt;
  return deadline > now ? record : undefined;
}
