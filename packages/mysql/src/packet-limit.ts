import { describe } from "./options.js";
import type { Queryable } from "./schema.js";

/** Room for the rest of a statement: its SQL, token, key hash and durations (under 1 KiB). */
const PACKET_OVERHEAD = 4096;

/**
 * Checks that a statement fits the server's `max_allowed_packet`. The server refuses a bigger one
 * (ER_NET_PACKET_TOO_LARGE, 1153) and closes the connection, which mysql2's pool then lends to the next
 * call, unrelated or not, and that call fails too: what cannot fit is refused before it is sent. Binary
 * values travel as hexadecimal literals in the statement's text: two characters a byte. The limit is read
 * at the first check, and again when a statement exceeds it (it may have been raised).
 */
export function packetLimit(db: Pick<Queryable, "query">) {
  let limit: number | undefined;
  const read = async () => {
    const [rows] = await db.query("SELECT @@max_allowed_packet AS max");
    limit = Number(rows[0]?.max);
    return limit;
  };
  async function fits(size: number): Promise<number | undefined> {
    if (size <= (limit ?? (await read()))) return undefined;
    if (size <= (await read())) return undefined;
    return limit;
  }
  return {
    /** A completion's outcome of `bytes` bytes. */
    async outcome(operation: string, bytes: number): Promise<void> {
      const size = 2 * bytes + PACKET_OVERHEAD;
      const max = await fits(size);
      if (max === undefined) return;
      throw new RangeError(
        `@idemkit/mysql: ${operation}: an outcome of ${bytes} bytes does not fit the server's max_allowed_packet ` +
          `(${max} bytes; the statement carries it as ${size} bytes of text): raise it, or store a smaller outcome`,
      );
    },
    /** A claim: it carries the (escaped) key once and the fingerprint twice (see `sql.claim`). */
    async claim(operation: string, key: string, keyBytes: number, fingerprintBytes: number): Promise<void> {
      const size = 2 * keyBytes + 4 * fingerprintBytes + PACKET_OVERHEAD;
      const max = await fits(size);
      if (max === undefined) return;
      throw new RangeError(
        `@idemkit/mysql: ${operation}: the claim of key ${describe(key)} (${keyBytes} bytes, fingerprint ` +
          `${fingerprintBytes} bytes) does not fit the server's max_allowed_packet (${max} bytes; the statement ` +
          `carries the key once and the fingerprint twice, as ${size} bytes of text): raise it, or use a ` +
          "shorter key or fingerprint",
      );
    },
  };
}
