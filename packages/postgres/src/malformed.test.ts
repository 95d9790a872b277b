// A row the store cannot read fails its key with a store error naming it, and nothing else; delete
// clears it (issue 13, item 2). The table's types and checks rule out most of what another program
// could write; these get through them.
import { randomUUID } from "node:crypto";
import { createIdempotency } from "@idemkit/core";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postgresStatements } from "./schema.js";
import { createPostgresStore, encodeKey, type PostgresStore } from "./store.js";
import { claimOf, freshTables, newPool, skip, titled } from "./test-support.js";

describe.skipIf(Boolean(skip))(titled("postgres: a row the store cannot read"), () => {
  let tables: Awaited<ReturnType<typeof freshTables>>;
  let pool: pg.Pool;
  let store: PostgresStore;
  let table: string;
  beforeAll(async () => {
    tables = await freshTables("malformed");
    pool = newPool({ max: 4 });
    store = createPostgresStore({ pool, ...tables.names });
    table = postgresStatements(tables.names).table;
  });
  afterAll(async () => {
    await pool?.end();
    await tables?.drop();
  });
  const insert = (key: string, column: string, value: string, state = "in_progress") =>
    pool
      .query(
        `INSERT INTO ${table} (key_hash, key, token, fingerprint, fence, state, outcome, expires_at, keep_until)
       VALUES (sha256(convert_to($1, 'UTF8')), $1, 'owner', 'fp', 1, $2,
               ${state === "completed" ? "'tok'" : "NULL"}, now() + interval '1 day', 'infinity')`,
        [encodeKey(key), state],
      )
      .then(() => pool.query(`UPDATE ${table} SET ${column} = ${value} WHERE key = $1`, [encodeKey(key)]));

  it.each<[string, string, string, string, RegExp]>([
    ["a fence of 0", "fence", "0", "in_progress", /fence is 0/],
    ["a negative fence", "fence", "-3", "completed", /fence is -3/],
    ["a fence past 2^53", "fence", "2^60", "in_progress", /fence is 1152921504606846976/],
    [
      "a lease that never ends (expires_at infinity: 409 for ever)",
      "expires_at",
      "'infinity'",
      "in_progress",
      /expires_at is infinity/,
    ],
    [
      "a completed row without its outcome (it replayed an empty body)",
      "outcome",
      "NULL",
      "completed",
      /outcome is NULL/,
    ],
    ...[
      ["in base64 holding what base64 does not", "'bb2!='"],
      ["in base64 cut short", "'bb2s'"],
      ["in base64 with spare bits set (the store's would be bAA==)", "'bAB=='"],
      ["as text holding a character past ASCII", "'tż'"],
      ["as text ending in its escape character", "'tok' || chr(16)"],
      ["as text with an escape of nothing it escapes", "'to' || chr(16) || 'k'"],
    ].map(([what, value]): [string, string, string, string, RegExp] => [
      `a completed row whose outcome is ${what}`,
      "outcome",
      value as string,
      "completed",
      /outcome is not one the store encoded/,
    ]),
  ])(
    "%s: claim and get reject naming the key; other keys work; delete clears it",
    async (_label, column, value, state, why) => {
      const key = `bad:${randomUUID()}`;
      await insert(key, column, value, state);
      await expect(store.claim(key, claimOf())).rejects.toThrow(
        `@idemkit/postgres: claim: the row of key ${JSON.stringify(key)} is not an idemkit record (`,
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
    await pool.query(`UPDATE ${table} SET outcome = NULL WHERE key LIKE $1`, [`%${key}`]);
    expect((await post(key)).status).toBe(503);
    expect(events).toContain("store-error");
    expect((await post(`fine-${randomUUID()}`)).status).toBe(201);
  });
});
