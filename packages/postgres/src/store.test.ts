import { randomUUID } from "node:crypto";
import type { ClaimRequest } from "@idemkit/core";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate, postgresSchemaSql, postgresStatements, quoteIdentifier } from "./schema.js";
import { createPostgresStore, encodeKey, keyHash, type PostgresStore } from "./store.js";
import { databaseUrl, freshTables, newPool, skip, sleep, titled, waitForLockWait } from "./test-support.js";

const claimOf = (leaseMs = 30_000, token = randomUUID()): ClaimRequest => ({
  token,
  fingerprint: "fp",
  leaseMs,
  retentionMs: 60_000,
});
const bytes = (text: string) => new TextEncoder().encode(text);

describe("schema SQL", () => {
  it("quotes identifiers and rejects ones PostgreSQL would truncate or cannot hold", () => {
    expect(quoteIdentifier('a "b"')).toBe('"a ""b"""');
    expect(() => quoteIdentifier("x".repeat(64))).toThrow(/63 bytes/);
    expect(() => quoteIdentifier("a\u0000b")).toThrow(TypeError);
    expect(() => quoteIdentifier("")).toThrow(TypeError);
    const sql = postgresSchemaSql({ schema: "app", table: 'k"; DROP TABLE x; --' });
    expect(sql).toContain('CREATE TABLE IF NOT EXISTS "app"."k""; DROP TABLE x; --"');
    expect(sql).toContain('CREATE SCHEMA IF NOT EXISTS "app"');
    expect(postgresSchemaSql()).not.toContain("CREATE SCHEMA");
  });

  it("quotes each claim function body with a dollar tag that no table or schema name contains", () => {
    /** The dollar tag and body of every plpgsql function, and what follows each closing tag. */
    const bodiesOf = (sql: string) =>
      [...sql.matchAll(/LANGUAGE plpgsql VOLATILE (?:SET lock_timeout = 0 )?AS (\$[A-Za-z0-9_]*\$)/g)].map(
        (m) => {
          const tag = m[1]!;
          const start = m.index! + m[0].length;
          const close = sql.indexOf(tag, start);
          return { tag, rest: sql.slice(start, close), after: sql.slice(close + tag.length) };
        },
      );
    expect(bodiesOf(postgresSchemaSql()).map((b) => b.tag)).toEqual(["$idemkit$", "$idemkit_wait$"]);
    const evil = postgresSchemaSql({
      schema: "s$idemkit_1$$idemkit_wait$",
      table: "k$idemkit$; DROP TABLE x; --",
    });
    const bodies = bodiesOf(evil);
    expect(bodies.map((b) => b.tag)).toEqual(["$idemkit_2$", "$idemkit_wait_1$"]);
    for (const { rest, after } of bodies) {
      // The body ends with the function's own END, not inside a name; the statement ends right after.
      expect(rest.trimEnd().endsWith("END")).toBe(true);
      expect(after.startsWith(";")).toBe(true);
    }
    expect(bodies.at(-1)!.after.trim()).toBe(";");
  });

  it("escapes keys injectively: NUL, backslash and lone surrogates", () => {
    const keys = [
      "a\u0000b",
      "a\\u0000b",
      "a\\\\u0000b",
      "\uD800",
      "\uDC00",
      "\\ud800",
      "😀",
      "\uD83D",
      "a\\b",
      "plain:key",
    ];
    const encoded = keys.map(encodeKey);
    expect(new Set(encoded).size).toBe(keys.length);
    for (const e of encoded) expect(e).not.toContain("\u0000");
    expect(encodeKey("plain:key")).toBe("plain:key");
    expect(encodeKey("😀")).toBe("😀");
  });
});

describe("a claim function that answers nothing (issue 13, item 9)", () => {
  it("fails the claim at once, saying so: no blind retry", async () => {
    let calls = 0;
    const pool = {
      query: async () => {
        calls++;
        return { rows: [], rowCount: 0 };
      },
    } as unknown as pg.Pool;
    const store = createPostgresStore({ pool });
    await expect(store.claim("k", claimOf())).rejects.toThrow(
      /claim: "public"\."idemkit_keys_claim" returned no row; it always returns one\. Is it the function migrate\(\) installs/,
    );
    expect(calls).toBe(1);
  });
});

describe.skipIf(Boolean(skip))(titled("postgres lease mode"), () => {
  let tables: Awaited<ReturnType<typeof freshTables>>;
  let pool: pg.Pool;
  let store: PostgresStore;

  beforeAll(async () => {
    tables = await freshTables("lease");
    pool = newPool({ max: 10, application_name: "idemkit-lease-test" });
    store = createPostgresStore({ pool, ...tables.names });
  });
  afterAll(async () => {
    await pool?.end();
    await tables?.drop();
  });

  it("50 concurrent claims through 50 separate connections yield one owner; the stale owner loses after a takeover", async () => {
    const clients = await Promise.all(
      Array.from({ length: 50 }, async () => {
        const client = new pg.Client({ connectionString: databaseUrl });
        await client.connect();
        return client;
      }),
    );
    try {
      const stores = clients.map((client) => createPostgresStore({ pool: client, ...tables.names }));
      const key = `race:${randomUUID()}`;
      // A lease long enough that all 50 land inside it even with CI's other suites beside this one (at
      // 400 ms, a loaded run once saw a legitimate takeover by the 48th claim: two winners, fence 1 and 2).
      const claims = stores.map(() => claimOf(2_000));
      const results = await Promise.all(stores.map((s, i) => s.claim(key, claims[i]!)));
      const winners = results.flatMap((r, i) => (r.acquired ? [i] : []));
      const acquisitions = JSON.stringify(results.flatMap((r) => (r.acquired ? [r] : [])));
      expect(winners, `acquired: ${acquisitions}`).toHaveLength(1);
      const owner = claims[winners[0]!]!;
      for (const r of results)
        if (!r.acquired) expect(r.record).toMatchObject({ token: owner.token, fence: 1 });

      // The owner stalls past its lease; 50 connections race to take over; one wins with fence 2.
      await sleep(2_100);
      const takeoverClaims = stores.map(() => claimOf());
      const takeovers = await Promise.all(stores.map((s, i) => s.claim(key, takeoverClaims[i]!)));
      const newOwners = takeovers.flatMap((r, i) => (r.acquired ? [{ i, fence: r.fence }] : []));
      expect(newOwners).toEqual([{ i: expect.any(Number), fence: 2 }]);
      const fresh = takeoverClaims[newOwners[0]!.i]!;

      // The stale owner wakes up: every write it tries is refused; the new owner's outcome stands.
      const stale = stores[winners[0]!]!;
      expect(await stale.complete(key, owner.token, { result: bytes("stale"), retentionMs: 60_000 })).toBe(
        false,
      );
      expect(await stale.extend(key, owner.token, 60_000)).toBe(false);
      expect(await stale.release(key, owner.token)).toBe(false);
      expect(await store.complete(key, fresh.token, { result: bytes("fresh"), retentionMs: 60_000 })).toBe(
        true,
      );
      expect(await stale.complete(key, owner.token, { result: bytes("stale"), retentionMs: 60_000 })).toBe(
        false,
      );
      const read = await store.get(key);
      expect(read).toMatchObject({ state: "completed", token: fresh.token, fence: 2 });
      expect(read?.state === "completed" && new TextDecoder().decode(read.result)).toBe("fresh");
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
  });

  it("the claim function answers every call with exactly one row: 10 rounds of 50 takeovers through 50 connections, racing deletes and purges (issue 13, item 9)", {
    timeout: 60_000,
  }, async () => {
    // Once, an empty answer was reported from this race and retried blindly; see claimOn in store.ts
    // for why the function cannot return one. Here the SQL is called directly (no store code between),
    // on rows kept 0 ms past their 40 ms leases, so that purges and deletes race the takeovers too.
    const { claim } = postgresStatements(tables.names);
    const clients = await Promise.all(
      Array.from({ length: 50 }, async () => {
        const client = new pg.Client({ connectionString: databaseUrl });
        await client.connect();
        return client;
      }),
    );
    const purger = createPostgresStore({ pool, ...tables.names });
    try {
      const answers: number[] = [];
      for (let round = 0; round < 10; round++) {
        const key = `one-row:${randomUUID()}`;
        const call = (client: pg.Client) =>
          client
            .query(claim, [keyHash(key), encodeKey(key), randomUUID(), "fp", 40, 0])
            .then((r) => r.rows.length);
        answers.push(await call(clients[0]!));
        await sleep(60);
        const [counts] = await Promise.all([
          Promise.all(clients.map(call)),
          purger.delete(key),
          purger.purgeExpired({ limit: 100 }),
          sleep(5).then(() => purger.purgeExpired({ limit: 100 })),
        ]);
        answers.push(...counts);
      }
      expect(answers.filter((n) => n !== 1)).toEqual([]);
      expect(answers).toHaveLength(10 * 51);
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
  });

  it("a claim inside the caller's open transaction never aborts it, and takes no lock on a live row", async () => {
    const business = `${quoteIdentifier(tables.names.schema)}.business`;
    await pool.query(`CREATE TABLE ${business} (id text PRIMARY KEY)`);
    const held = `held:${randomUUID()}`;
    const owner = claimOf();
    expect((await store.claim(held, owner)).acquired).toBe(true);

    const client = await pool.connect();
    const ids = [randomUUID(), randomUUID()];
    try {
      await client.query("BEGIN");
      await client.query(`INSERT INTO ${business} (id) VALUES ($1)`, [ids[0]]);
      const inTx = createPostgresStore({ pool: client, ...tables.names });
      // The key is held by another connection: no unique violation, just the record.
      const lost = await inTx.claim(held, claimOf());
      expect(lost).toMatchObject({ acquired: false, record: { state: "in_progress", token: owner.token } });
      // The owner can complete while the caller's transaction is still open (no row lock was taken).
      expect(await store.complete(held, owner.token, { result: bytes("done"), retentionMs: 60_000 })).toBe(
        true,
      );
      expect(await inTx.claim(held, claimOf())).toMatchObject({
        acquired: false,
        record: { state: "completed" },
      });
      // The transaction is still healthy: more writes and a fresh claim work, and it commits.
      await client.query(`INSERT INTO ${business} (id) VALUES ($1)`, [ids[1]]);
      expect(await inTx.claim(`fresh:${randomUUID()}`, claimOf())).toEqual({
        acquired: true,
        fence: 1,
        takeover: false,
      });
      await client.query("COMMIT");
    } finally {
      client.release();
    }
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM ${business} WHERE id = ANY($1)`, [ids]);
    expect(rows[0].n).toBe(2);
  });

  it("why the claim is a function: a single CTE statement cannot see a row committed while it waited", async () => {
    const { table } = postgresStatements(tables.names);
    const key = `cte:${randomUUID()}`;
    const marker = `cte-pitfall-${randomUUID()}`;
    // key_hash computed in SQL, as the README tells operators to: it must match the store's keyHash.
    const insertRow = `INSERT INTO ${table} (key_hash, key, token, fingerprint, fence, state, expires_at, keep_until)
      VALUES (sha256(convert_to($1, 'UTF8')), $1, 'first', 'fp', 1, 'in_progress',
              now() + interval '1 minute', now() + interval '1 minute')`;
    const cte = `/* ${marker} */ WITH ins AS (
        INSERT INTO ${table} AS r (key_hash, key, token, fingerprint, fence, state, expires_at, keep_until)
        VALUES (sha256(convert_to($1, 'UTF8')), $1, 'second', 'fp', 1, 'in_progress',
                now() + interval '1 minute', now() + interval '1 minute')
        ON CONFLICT (key_hash) DO UPDATE SET token = excluded.token, fence = r.fence + 1
          WHERE r.expires_at <= statement_timestamp()
        RETURNING r.fence)
      SELECT true AS acquired, fence, NULL AS token FROM ins
      UNION ALL SELECT false, fence, token FROM ${table} WHERE key = $1 AND NOT EXISTS (SELECT 1 FROM ins)`;

    const first = await pool.connect();
    try {
      await first.query("BEGIN");
      await first.query(insertRow, [key]);
      const pending = pool.query(cte, [key]);
      await waitForLockWait(pool, marker);
      await first.query("COMMIT");
      // Neither acquired nor shown the record: the caller could not tell what happened.
      expect((await pending).rows).toEqual([]);
    } finally {
      first.release();
    }

    // The same interleaving through the claim function returns the committed record.
    const key2 = `cte:${randomUUID()}`;
    const waiter = newPool({ max: 1, application_name: marker });
    const second = await pool.connect();
    try {
      await second.query("BEGIN");
      await second.query(insertRow, [key2]);
      const pending = createPostgresStore({ pool: waiter, ...tables.names }).claim(key2, claimOf());
      await waitForLockWait(pool, marker);
      await second.query("COMMIT");
      expect(await pending).toMatchObject({ acquired: false, record: { token: "first", fence: 1 } });
    } finally {
      second.release();
      await waiter.end();
    }
  });

  it("an expired in-progress row keeps its fence until retention ends; purge removes only rows past retention", async () => {
    const key = `fence:${randomUUID()}`;
    await store.claim(key, { ...claimOf(50), retentionMs: 60_000 });
    await sleep(100);
    expect(await store.get(key)).toBeUndefined();
    await store.purgeExpired();
    expect(await store.claim(key, claimOf())).toEqual({ acquired: true, fence: 2, takeover: true });

    const gone = Array.from({ length: 5 }, () => `purge:${randomUUID()}`);
    for (const k of gone) await store.claim(k, { ...claimOf(50), retentionMs: 50 });
    await sleep(100);
    let purged = 0;
    for (let n = 0; n < 100 && (await pool.query(countSql(), [gone.map(encodeKey)])).rows[0].n > 0; n++) {
      purged += await store.purgeExpired({ limit: 2 });
    }
    expect(purged).toBeGreaterThanOrEqual(5);
    expect(await store.claim(gone[0]!, claimOf())).toEqual({ acquired: true, fence: 1, takeover: false });
    expect(await store.get(key)).toMatchObject({ fence: 2 });
  });

  it("retention 60 s, lease 5 min (scaled down: 1 s, 2 s): purgeExpired keeps the row its retention past the lease end, extended or not", {
    timeout: 15_000,
  }, async () => {
    const { table } = postgresStatements(tables.names);
    const keptPastLease = async (key: string) => {
      const { rows } = await pool.query(
        `SELECT extract(epoch FROM keep_until - expires_at) * 1000 AS ms FROM ${table} WHERE key = $1`,
        [encodeKey(key)],
      );
      return Math.round(Number(rows[0]?.ms));
    };
    const key = `short-retention:${randomUUID()}`;
    // Each purge runs 100 ms after a lease end and 900 ms before the row's keep-until: a loaded machine
    // that stalls the test less than that still sees the row kept.
    const stalled = { ...claimOf(2_000), retentionMs: 1_000 };
    await store.claim(key, stalled);
    expect(await keptPastLease(key)).toBe(1_000);
    await sleep(2_100); // the lease ended 100 ms ago
    expect(await store.get(key)).toBeUndefined();
    await store.purgeExpired({ limit: 100_000 });
    const next = { ...claimOf(2_000), retentionMs: 1_000 };
    expect(await store.claim(key, next)).toEqual({ acquired: true, fence: 2, takeover: true });
    // Extended late in its lease: the row is kept 1 s past the new lease end.
    await sleep(500);
    expect(await store.extend(key, next.token, 2_000)).toBe(true);
    expect(await keptPastLease(key)).toBe(1_000);
    await sleep(2_100);
    await store.purgeExpired({ limit: 100_000 });
    expect(await store.claim(key, { ...claimOf(2_000), retentionMs: 1_000 })).toEqual({
      acquired: true,
      fence: 3,
      takeover: true,
    });
  });

  it("concurrent purges skip rows another session holds instead of waiting for it", async () => {
    const { table } = postgresStatements(tables.names);
    const key = `locked:${randomUUID()}`;
    await store.claim(key, { ...claimOf(20), retentionMs: 20 });
    await sleep(60);
    const holder = await pool.connect();
    try {
      await holder.query("BEGIN");
      await holder.query(`SELECT 1 FROM ${table} WHERE key = $1 FOR UPDATE`, [key]);
      const started = Date.now();
      await Promise.all([store.purgeExpired(), store.purgeExpired(), store.purgeExpired()]);
      expect(Date.now() - started).toBeLessThan(2000);
      expect((await pool.query(countSql(), [[key]])).rows[0].n).toBe(1);
      await holder.query("COMMIT");
    } finally {
      holder.release();
    }
    await store.purgeExpired({ limit: 100_000 });
    expect((await pool.query(countSql(), [[key]])).rows[0].n).toBe(0);
  });

  it("statements per request, counted by a counting client: new key = 2, replay = 1, conflict = 1", async () => {
    let count = 0;
    class CountingClient extends pg.Client {
      // biome-ignore lint/suspicious/noExplicitAny: pg's query overloads
      override query(...args: any[]): any {
        count++;
        // biome-ignore lint/suspicious/noExplicitAny: pg's query overloads
        return (super.query as any)(...args);
      }
    }
    const counted = newPool({ max: 2, Client: CountingClient });
    try {
      const s = createPostgresStore({ pool: counted, ...tables.names });
      await s.get("warm-up");
      const key = `count:${randomUUID()}`;
      const owner = claimOf();
      count = 0;
      expect((await s.claim(key, owner)).acquired).toBe(true);
      expect(await s.complete(key, owner.token, { result: bytes("r"), retentionMs: 60_000 })).toBe(true);
      expect(count).toBe(2);
      count = 0;
      expect(await s.claim(key, claimOf())).toMatchObject({
        acquired: false,
        record: { state: "completed" },
      });
      expect(count).toBe(1);
      const busy = `count:${randomUUID()}`;
      await s.claim(busy, claimOf());
      count = 0;
      expect(await s.claim(busy, claimOf())).toMatchObject({
        acquired: false,
        record: { state: "in_progress" },
      });
      expect(count).toBe(1);
    } finally {
      await counted.end();
    }
  });

  it("keys rows on a 32-byte SHA-256 of the encoded key: a 3000-char key (past the btree limit) and a 1 MB key work", async () => {
    const { table } = postgresStatements(tables.names);
    for (const length of [3000, 10_000, 1024 * 1024]) {
      const key = `long:${randomUUID()}:${"é".repeat(length)}\u0000end`;
      const owner = claimOf();
      expect(await store.claim(key, owner)).toEqual({ acquired: true, fence: 1, takeover: false });
      expect(await store.complete(key, owner.token, { result: bytes("long"), retentionMs: 60_000 })).toBe(
        true,
      );
      expect(await store.claim(key, claimOf())).toMatchObject({
        acquired: false,
        record: { state: "completed" },
      });
      const { rows } = await pool.query(
        `SELECT octet_length(key_hash) AS n, key = $2 AS readable FROM ${table} WHERE key_hash = $1`,
        [keyHash(key), encodeKey(key)],
      );
      expect(rows).toEqual([{ n: 32, readable: true }]);
    }
    // The operator's formula in SQL gives the same hash as keyHash.
    const plain = `plain:${randomUUID()}:ü`;
    await store.claim(plain, claimOf());
    const { rows } = await pool.query(
      `SELECT key_hash = $2 AS same FROM ${table} WHERE key_hash = sha256(convert_to($1, 'UTF8'))`,
      [encodeKey(plain), keyHash(plain)],
    );
    expect(rows).toEqual([{ same: true }]);
  });

  it("release ends the lease but keeps the row and its fence; delete removes it and resets the fence", async () => {
    const key = `release:${randomUUID()}`;
    const owner = claimOf();
    await store.claim(key, owner);
    expect(await store.release(key, owner.token)).toBe(true);
    expect(await store.get(key)).toBeUndefined();
    expect((await pool.query(countSql(), [[encodeKey(key)]])).rows[0].n).toBe(1);
    expect(await store.claim(key, claimOf())).toEqual({ acquired: true, fence: 2, takeover: false });
    expect(await store.delete(key)).toBe(true);
    expect((await pool.query(countSql(), [[encodeKey(key)]])).rows[0].n).toBe(0);
    expect(await store.claim(key, claimOf())).toEqual({ acquired: true, fence: 1, takeover: false });
  });

  function countSql() {
    return `SELECT count(*)::int AS n FROM ${postgresStatements(tables.names).table} WHERE key = ANY($1)`;
  }
});

describe.skipIf(Boolean(skip))(titled("postgres names with dollar-quote tags"), () => {
  it("a table or schema name containing $idemkit$ cannot end the function body (no SQL injection)", async () => {
    const id = randomUUID().slice(0, 8);
    const canary = `canary_${id}`;
    const names = { schema: `idemkit $idemkit_1$ ${id}`, table: `k$idemkit$;DROP TABLE ${canary};--` };
    const pool = newPool({ max: 2 });
    try {
      await pool.query(`CREATE TABLE public.${canary} (id int)`);
      await migrate(pool, names);
      await migrate(pool, names); // idempotent
      const { rows } = await pool.query("SELECT to_regclass($1) IS NOT NULL AS kept", [`public.${canary}`]);
      expect(rows).toEqual([{ kept: true }]);
      const store = createPostgresStore({ pool, ...names });
      const owner = claimOf();
      expect(await store.claim("k", owner)).toEqual({ acquired: true, fence: 1, takeover: false });
      expect(await store.complete("k", owner.token, { result: bytes("ok"), retentionMs: 60_000 })).toBe(true);
      expect(await store.get("k")).toMatchObject({ state: "completed", fence: 1 });
    } finally {
      await pool.query(`DROP SCHEMA IF EXISTS ${quoteIdentifier(names.schema)} CASCADE`);
      await pool.query(`DROP TABLE IF EXISTS public.${canary}`);
      await pool.end();
    }
  });
});
