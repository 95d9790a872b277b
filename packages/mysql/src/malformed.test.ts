// A row the store cannot read fails its key with a store error naming it, and nothing else; delete
// clears it. The columns' types rule out most of what another program could write; these get through.
import { randomUUID } from "node:crypto";
import { createIdempotency } from "@idemkit/core";
import type { Pool } from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeKey, keyHash } from "./key.js";
import { mysqlStatements, NOW_MS } from "./schema.js";
import { createMySqlStore, type MySqlStore } from "./store.js";
import { freshTable, newPool, skip, titled } from "./test-support.js";

describe.skipIf(Boolean(skip))(titled("mysql: a row the store cannot read"), () => {
  let fresh: Awaited<ReturnType<typeof freshTable>>;
  let pool: Pool;
  let store: MySqlStore;
  let table: string;
  beforeAll(async () => {
    fresh = await freshTable("malformed");
    pool = newPool({ connectionLimit: 4 });
    store = createMySqlStore({ pool, table: fresh.table });
    table = mysqlStatements({ table: fresh.table }).table;
  });
  afterAll(async () => {
    await pool?.end();
    await fresh?.drop();
  });
  const claimOf = () => ({ token: randomUUID(), fingerprint: "fp", leaseMs: 30_000, retentionMs: 60_000 });
  // A live row (a day left) written by hand, then one column set to `value`.
  const insert = async (key: string, column: string, value: string, state: string) => {
    await pool.execute(
      `INSERT INTO ${table} (key_hash, key_text, token, fingerprint, fence, state, result, expires_at,
         keep_until, takeover)
       VALUES (?, ?, 'owner', 'fp', 1, ?, ${state === "completed" ? "'ok'" : "NULL"},
         ${NOW_MS} + 86400000, ${NOW_MS} + 86400000, FALSE)`,
      [keyHash(key), Buffer.from(encodeKey(key)), state],
    );
    await pool.execute(`UPDATE ${table} SET ${column} = ${value} WHERE key_hash = ?`, [keyHash(key)]);
  };

  it.each([
    ["a fence of 0", "fence", "0", "in_progress", /fence is 0/],
    ["a negative fence", "fence", "-3", "completed", /fence is -3/],
    ["a fence past 2^53", "fence", "POW(2, 60)", "in_progress", /fence is 1152921504606846976/],
    [
      "a lease that never ends (expires_at past 2^53 ms: 409 for ever)",
      "expires_at",
      "9223372036854775807",
      "in_progress",
      /expires_at is 9223372036854775807/,
    ],
    [
      "a completed row without its outcome (it would replay an empty body)",
      "result",
      "NULL",
      "completed",
      /result is NULL/,
    ],
    ["a state of another name", "state", "'done'", "completed", /state is "done"/],
  ])(
    "%s: claim and get reject naming the key; other keys work; delete clears it",
    async (_label, column, value, state, why) => {
      const key = `bad:${randomUUID()}`;
      await insert(key, column, value, state);
      await expect(store.claim(key, claimOf())).rejects.toThrow(
        `@idemkit/mysql: claim: the row of key ${JSON.stringify(key)} is not an idemkit record (`,
      );
      await expect(store.claim(key, claimOf())).rejects.toThrow(why);
      await expect(store.get(key)).rejects.toThrow(/get: the row of key .* is not an idemkit record/);
      expect(await store.claim(`good:${randomUUID()}`, claimOf())).toEqual({
        acquired: true,
        fence: 1,
        takeover: false,
      });
      expect(typeof (await store.delete(key))).toBe("boolean");
      expect(await store.claim(key, claimOf())).toEqual({ acquired: true, fence: 1, takeover: false });
    },
  );

  it("through core: that key is answered 503 with a store-error event, another key 201", async () => {
    const events: string[] = [];
    const idem = createIdempotency({ store, scope: "global", onEvent: (event) => events.push(event.type) });
    const route = idem.wrap(async () => new Response("created", { status: 201 }));
    const post = (key: string) =>
      route(new Request("http://x/orders", { method: "POST", headers: { "idempotency-key": key } }));
    const key = `broken-${randomUUID()}`;
    expect((await post(key)).status).toBe(201);
    await pool.execute(`UPDATE ${table} SET result = NULL WHERE key_text LIKE ?`, [`%${key}`]);
    expect((await post(key)).status).toBe(503);
    expect(events).toContain("store-error");
    expect((await post(`fine-${randomUUID()}`)).status).toBe(201);
  });

  // The same row with its lease ended a second ago: the claim would write over it.
  const expire = (key: string) =>
    pool.execute(`UPDATE ${table} SET expires_at = ${NOW_MS} - 1000 WHERE key_hash = ?`, [keyHash(key)]);
  const rowOf = async (key: string) =>
    (
      (await pool.execute(
        `SELECT CAST(fence AS CHAR) AS fence, state, CAST(token AS CHAR) AS token FROM ${table}
       WHERE key_hash = ?`,
        [keyHash(key)],
      )) as unknown as [Record<string, unknown>[]]
    )[0][0];

  it.each([
    ["a negative fence", "fence", "-7", "in_progress", /fence is -7/],
    [
      "a fence past the highest a claim can report",
      "fence",
      "4503599627370500",
      "in_progress",
      /fence is 4503599627370500/,
    ],
    [
      "the highest fence a claim can report",
      "fence",
      String(2 ** 52 - 1),
      "completed",
      /fence is 4503599627370495, the highest/,
    ],
    ["a fence of 2^63 - 1", "fence", "9223372036854775807", "completed", /fence is 9223372036854775807/],
    ["a state of another name", "state", "'bogus'", "completed", /state is "bogus"/],
    ["a completed row without its outcome", "result", "NULL", "completed", /result is NULL/],
  ])(
    "expired, %s: the claim refuses to write over it, naming the key, and leaves it as it was",
    async (_label, column, value, state, why) => {
      const key = `expired:${randomUUID()}`;
      await insert(key, column, value, state);
      await expire(key);
      const before = await rowOf(key);
      const claim = store.claim(key, claimOf());
      await expect(claim).rejects.toThrow(
        `@idemkit/mysql: claim: the row of key ${JSON.stringify(key)} is not an idemkit record (`,
      );
      await expect(claim).rejects.toThrow(why);
      await expect(claim).rejects.toThrow(/the claim does not write over it/);
      expect(await rowOf(key)).toEqual(before);
      expect(await store.delete(key)).toBe(false);
      expect(await store.claim(key, claimOf())).toEqual({ acquired: true, fence: 1, takeover: false });
    },
  );

  it("fences up to the highest a claim can report are read; an expired row one below it is taken with that fence", async () => {
    const key = `top:${randomUUID()}`;
    await insert(key, "fence", String(2 ** 52 - 2), "in_progress");
    expect(await store.get(key)).toMatchObject({ fence: 2 ** 52 - 2 });
    await expire(key);
    expect(await store.claim(key, claimOf())).toEqual({ acquired: true, fence: 2 ** 52 - 1, takeover: true });
    expect(await store.get(key)).toMatchObject({ fence: 2 ** 52 - 1 });
    const above = `top:${randomUUID()}`;
    await insert(above, "fence", String(2 ** 52), "in_progress");
    await expect(store.get(above)).rejects.toThrow(/fence is 4503599627370496/);
  });
});
