// An outcome the server would refuse is refused by the store before it is sent.
import { randomUUID } from "node:crypto";
import type { Pool } from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMySqlStore } from "./store.js";
import { freshTable, interceptedPool, newPool, skip, titled } from "./test-support.js";

const claimOf = () => ({ token: randomUUID(), fingerprint: "fp", leaseMs: 30_000, retentionMs: 60_000 });

describe.skipIf(Boolean(skip))(titled("mysql: max_allowed_packet"), () => {
  let fresh: Awaited<ReturnType<typeof freshTable>>;
  let pool: Pool;
  beforeAll(async () => {
    fresh = await freshTable("packet");
    pool = newPool({ connectionLimit: 4 });
  });
  afterAll(async () => {
    await pool?.end();
    await fresh?.drop();
  });

  it("an outcome over the server's max_allowed_packet is refused before it is sent: the owner keeps the key, later calls work", async () => {
    // The real server, with its limit read as 8 KiB: SET GLOBAL would change it for every test file at
    // once. Sent, such an outcome fails with ER_NET_PACKET_TOO_LARGE and the server closes the connection,
    // which the pool lends again: the next call, whatever its key, failed with ECONNRESET.
    let limit = 8192;
    const limited = interceptedPool(pool, (statement, values, next) =>
      statement.sql.includes("@@max_allowed_packet")
        ? Promise.resolve([[{ max: limit }], []])
        : next(statement, values),
    );
    const small = createMySqlStore({ pool: limited, table: fresh.table });
    const key = `packet:${randomUUID()}`;
    const owner = claimOf();
    await small.claim(key, owner);
    const big = { result: new Uint8Array(8192), retentionMs: 60_000 };
    await expect(small.complete(key, owner.token, big)).rejects.toThrow(
      "@idemkit/mysql: complete: an outcome of 8192 bytes does not fit the server's max_allowed_packet (8192 bytes; the statement carries it as 20480 bytes of text): raise it, or store a smaller outcome",
    );
    expect(await small.get(key)).toMatchObject({ state: "in_progress", token: owner.token });
    // Raised since: the limit is read again, and the outcome goes through.
    limit = 64 * 1024;
    expect(await small.complete(key, owner.token, big)).toBe(true);
    expect(await small.get(key)).toMatchObject({ state: "completed", result: new Uint8Array(8192) });
  });

  it("a claim whose key or fingerprint would not fit is refused before it is sent, naming the key: nothing written, later calls work", async () => {
    // As above, the real server with its limit read as 8 KiB. The claim carries the key once and the
    // fingerprint twice, in hex: sent, it failed with ER_NET_PACKET_TOO_LARGE and the next call with ECONNRESET.
    const limited = interceptedPool(pool, (statement, values, next) =>
      statement.sql.includes("@@max_allowed_packet")
        ? Promise.resolve([[{ max: 8192 }], []])
        : next(statement, values),
    );
    const small = createMySqlStore({ pool: limited, table: fresh.table });
    const key = `packet:${randomUUID()}`;
    await expect(small.claim(key, { ...claimOf(), fingerprint: "f".repeat(1200) })).rejects.toThrow(
      new RangeError(
        `@idemkit/mysql: claim: the claim of key ${JSON.stringify(key)} (${key.length} bytes, fingerprint 1200 bytes) ` +
          "does not fit the server's max_allowed_packet (8192 bytes; the statement carries the key once and the " +
          `fingerprint twice, as ${2 * key.length + 4800 + 4096} bytes of text): raise it, or use a shorter key or fingerprint`,
      ),
    );
    const long = `packet:${"k".repeat(2100)}`;
    await expect(small.claim(long, claimOf())).rejects.toThrow(/claim of key "packet:k+…" \(2107 bytes/);
    let runs = 0;
    const work = async () => {
      runs++;
      return { value: 1, result: new Uint8Array(0), commit: true };
    };
    await expect(
      small.transaction(key, { fingerprint: "f".repeat(1200), retentionMs: 60_000 }, work),
    ).rejects.toThrow(/transaction: the claim of key/);
    expect(runs).toBe(0);
    expect(await small.get(key)).toBeUndefined();
    expect(await small.claim(key, claimOf())).toMatchObject({ acquired: true, fence: 1 });
  });
});
