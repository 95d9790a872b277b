// The CLI on PostgreSQL: a table an app's store wrote (see testing/scenario.ts), in a schema of its own.
import { randomBytes } from "node:crypto";
import { skipUnlessAvailable } from "@idemkit/conformance";
import {
  createPostgresStore,
  encodeKey,
  migrate,
  type PostgresStore,
  quoteIdentifier,
} from "@idemkit/postgres";
import pg from "pg";
import { afterAll } from "vitest";
import { storeScenario } from "./testing/scenario.js";

const url = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

async function probe(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    return undefined;
  } catch (error) {
    return `PostgreSQL is not reachable at ${url.replace(/\/\/[^@/]*@/, "//***@")} (${(error as Error).message})`;
  } finally {
    await client.end().catch(() => {});
  }
}

const skip = skipUnlessAvailable("postgres", await probe());
const schema = `idemkit cli ${randomBytes(4).toString("hex")}`;
const table = "keys";
afterAll(async () => {
  if (skip) return;
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  await pool.query(`DROP SCHEMA IF EXISTS ${quoteIdentifier(schema)} CASCADE`);
  await pool.end();
});

storeScenario("idemkit on PostgreSQL", skip, () => {
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  let store: PostgresStore;
  return {
    async store() {
      await migrate(pool, { schema, table });
      store = createPostgresStore({ pool, schema, table });
      return store;
    },
    close: () => pool.end(),
    async age(key) {
      await pool.query(
        `UPDATE ${quoteIdentifier(schema)}.${quoteIdentifier(table)} SET claimed_at = claimed_at - interval '10 minutes' WHERE key = $1`,
        [encodeKey(key)],
      );
    },
    args: ["--url", url, "--schema", schema, "--table", table],
    purges: true,
  };
});
