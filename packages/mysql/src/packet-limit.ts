import type { Queryable } from "./schema.js";

/** Room for the rest of a completion's statement: its SQL, token, key hash and durations (~700 bytes). */
const PACKET_OVERHEAD = 4096;

/**
 * A check that an outcome fits the server's `max_allowed_packet`. The server refuses a bigger statement
 * (ER_NET_PACKET_TOO_LARGE, 1153) and closes the connection, which mysql2's pool then lends to the next
 * call, unrelated or not, and that call fails too: an outcome that cannot fit is refused before it is sent.
 * The limit is read at the first completion, and again when an outcome exceeds it (it may have been raised).
 */
export function outcomeLimit(db: Pick<Queryable, "query">) {
  let limit: number | undefined;
  const read = async () => {
    const [rows] = await db.query("SELECT @@max_allowed_packet AS max");
    limit = Number(rows[0]?.max);
    return limit;
  };
  return async function checkOutcome(operation: string, bytes: number): Promise<void> {
    // The outcome travels as a hexadecimal literal in the statement's text: two characters a byte.
    const size = 2 * bytes + PACKET_OVERHEAD;
    if (size <= (limit ?? (await read()))) return;
    if (size <= (await read())) return;
    throw new RangeError(
      `@idemkit/mysql: ${operation}: an outcome of ${bytes} bytes does not fit the server's max_allowed_packet ` +
        `(${limit} bytes; the statement carries it as ${size} bytes of text): raise it, or store a smaller outcome`,
    );
  };
}
