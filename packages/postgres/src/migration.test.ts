// A table from the builds that kept every outcome in a `bytea` column `result` is converted by
// migrate(): its outcomes replay byte for byte, the claim functions that returned `bytea` are replaced
// (CREATE OR REPLACE alone fails: it cannot change a result type), and an earlier build's completion
// fails instead of writing where this one reads. Migrations at once, and a build in between.
import { randomBytes, randomUUID } from "node:crypto";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate, postgresStatements, quoteIdentifier } from "./schema.js";
import { createPostgresStore, keyHash } from "./store.js";
import { claimOf, newPool, skip, titled } from "./test-support.js";

/** The table and claim functions of the builds that kept every outcome in a bytea column `result`. */
function byteaSchemaSql(names: { schema: string; table: string }, type = "bytea"): string {
  const { table, claimFunction } = postgresStatements(names);
  const args =
    "p_key_hash bytea, p_key text, p_token text, p_fingerprint text, p_lease_ms float8, p_retention_ms float8";
  const returns = `RETURNS TABLE (acquired boolean, state text, token text, fingerprint text, fence bigint,
    deadline_ms float8, result ${type}, takeover boolean)`;
  const body = `$$ SELECT NULL::boolean, NULL, NULL, NULL, NULL::bigint, NULL::float8, NULL::${type}, NULL::boolean $$`;
  return `CREATE SCHEMA ${quoteIdentifier(names.schema)};
    CREATE TABLE ${table} (key_hash bytea PRIMARY KEY, key text NOT NULL, token text NOT NULL,
      fingerprint text NOT NULL, fence bigint NOT NULL,
      state text NOT NULL CHECK (state IN ('in_progress', 'completed')), result ${type},
      expires_at timestamptz NOT NULL, keep_until timestamptz NOT NULL, takeover boolean NOT NULL DEFAULT false,
      claimed_at timestamptz NOT NULL DEFAULT statement_timestamp());
    CREATE FUNCTION ${claimFunction}(${args}) ${returns} LANGUAGE sql AS ${body};
    CREATE FUNCTION ${claimFunction}(${args}, p_wait_ms integer) ${returns} LANGUAGE sql AS ${body};`;
}

describe.skipIf(Boolean(skip))(
  titled("postgres: a table with bytea outcomes is converted by migrate"),
  () => {
    // Quotes and a backslash in the table's name, on a session that reads backslashes in strings as
    // escapes: the conversion finds the table by a string of its name.
    const names = {
      schema: `idemkit test ${randomBytes(4).toString("hex")}`,
      table: `keys 'old' "format" \\x`,
    };
    let pool: pg.Pool;
    beforeAll(async () => {
      pool = newPool({ max: 2, options: "-c standard_conforming_strings=off" });
      await pool.query(byteaSchemaSql(names));
    });
    afterAll(async () => {
      await pool?.query(`DROP SCHEMA IF EXISTS ${quoteIdentifier(names.schema)} CASCADE`);
      await pool?.end();
    });

    it("its outcomes replay byte for byte, new keys are claimed, an earlier build's completion fails, migrating again changes nothing", async () => {
      const { table } = postgresStatements(names);
      // Every byte value, and 64 KiB that does not compress (PostgreSQL's base64 breaks lines at 76).
      const outcomes = [Buffer.from([...Array(256).keys()]), randomBytes(65_536), Buffer.alloc(0)];
      const keys = outcomes.map(() => `old:${randomUUID()}`);
      const insert = (key: string, state: string, outcome: Buffer | null) =>
        pool.query(
          `INSERT INTO ${table} (key_hash, key, token, fingerprint, fence, state, result, expires_at, keep_until)
         VALUES ($1, $2, 'owner', 'fp', 3, $3, $4, now() + interval '1 day', 'infinity')`,
          [keyHash(key), key, state, outcome],
        );
      for (const [i, key] of keys.entries()) await insert(key, "completed", outcomes[i] as Buffer);
      const late = `late:${randomUUID()}`; // claimed by the earlier build, to complete after the migration
      await insert(late, "in_progress", null);
      const columnType = async (name: string) =>
        (
          await pool.query(
            "SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2 AND NOT attisdropped",
            [table, name],
          )
        ).rows[0]?.type;
      expect(await columnType("result")).toBe("bytea");

      await migrate(pool, names);
      expect(await columnType("outcome")).toBe("text");
      expect(await columnType("outcome_bytes")).toBe("bytea");
      expect(await columnType("result")).toBeUndefined();
      const store = createPostgresStore({ pool, ...names });
      for (const [i, key] of keys.entries()) {
        const answer = await store.claim(key, claimOf());
        if (answer.acquired || answer.record.state !== "completed") throw new Error("expected a replay");
        expect(Buffer.from(answer.record.result).equals(outcomes[i] as Buffer)).toBe(true);
        expect(answer.record.fence).toBe(3);
      }
      // The earlier build's completion (its outcome a bytea parameter) fails rather than store raw bytes.
      await expect(
        pool.query(
          `UPDATE ${table} SET state = 'completed', result = $3 WHERE key_hash = $1 AND token = $2`,
          [keyHash(late), "owner", Buffer.from("true")],
        ),
      ).rejects.toThrow(/column "result" of relation .* does not exist/);
      expect((await store.get(late))?.state).toBe("in_progress");

      await migrate(pool, names);
      const fresh = `new:${randomUUID()}`;
      const claim = claimOf();
      expect(await store.claim(fresh, claim)).toEqual({ acquired: true, fence: 1, takeover: false });
      const bytes = randomBytes(1000);
      expect(await store.complete(fresh, claim.token, { result: bytes, retentionMs: 60_000 })).toBe(true);
      const replay = await store.get(fresh);
      expect(replay?.state === "completed" && Buffer.from(replay.result).equals(bytes)).toBe(true);
      const first = await store.get(keys[1] as string);
      expect(first?.state === "completed" && Buffer.from(first.result).equals(outcomes[1] as Buffer)).toBe(
        true,
      );
    });
  },
);

describe.skipIf(Boolean(skip))(titled("postgres: migrations at once, and from a build in between"), () => {
  const schemas: string[] = [];
  const names = (label: string) => {
    const schema = `idemkit ${label} ${randomBytes(4).toString("hex")}`;
    schemas.push(schema);
    return { schema, table: "keys" };
  };
  let admin: pg.Pool;
  beforeAll(() => {
    admin = newPool({ max: 1 });
  });
  afterAll(async () => {
    for (const schema of schemas)
      await admin?.query(`DROP SCHEMA IF EXISTS ${quoteIdentifier(schema)} CASCADE`);
    await admin?.end();
  });

  // The conversion reads the catalog; on a snapshot taken before the lock was granted it saw the table
  // as it was before the first migration, and converted it again ("column ... already exists").
  it.each(["repeatable read", "serializable"])(
    "four at once on sessions whose default isolation is %s, of a fresh schema and of a bytea table",
    async (level) => {
      const pools = Array.from({ length: 4 }, () =>
        newPool({ max: 1, options: `-c default_transaction_isolation=${level.replace(" ", "\\ ")}` }),
      );
      try {
        const fresh = names("fresh");
        const old = names("old");
        await admin.query(byteaSchemaSql(old));
        for (const target of [fresh, old]) {
          const settled = await Promise.allSettled(pools.map((pool) => migrate(pool, target)));
          expect(settled.map((s) => (s.status === "rejected" ? String(s.reason) : "ok"))).toEqual(
            Array(4).fill("ok"),
          );
          const store = createPostgresStore({ pool: admin, ...target });
          const claim = claimOf();
          expect((await store.claim(`k:${randomUUID()}`, claim)).acquired).toBe(true);
        }
      } finally {
        await Promise.all(pools.map((pool) => pool.end()));
      }
    },
  );

  // A build in between kept text outcomes in a text column `result`: its table is converted with the
  // check on the outcome column, so a "B" written by another program cannot reach the reads.
  it("a table whose result column is text gets the outcome column's check", async () => {
    const between = names("between");
    await admin.query(byteaSchemaSql(between, "text"));
    await migrate(admin, between);
    const { table } = postgresStatements(between);
    await expect(
      admin.query(
        `INSERT INTO ${table} (key_hash, key, token, fingerprint, fence, state, outcome, expires_at, keep_until)
         VALUES ($1, 'k', 'o', 'fp', 1, 'completed', 'BAA==', now() + interval '1 day', 'infinity')`,
        [keyHash(`check:${randomUUID()}`)],
      ),
    ).rejects.toThrow(/violates check constraint "outcome_kind"/);
  });
});
