// Shared by the test files; excluded from the build and the package.
import { randomBytes, randomUUID } from "node:crypto";
import { skipUnlessAvailable } from "@idemkit/conformance";
import pg from "pg";
import { transpilePackage } from "../../../scripts/transpile-package.mjs";
import { migrate, type PostgresTableOptions, quoteIdentifier } from "./schema.js";

export const databaseUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

async function probe(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return undefined;
  } catch (error) {
    const where = databaseUrl.replace(/\/\/[^@/]*@/, "//***@");
    return `PostgreSQL is not reachable at ${where} (${(error as Error).message})`;
  } finally {
    await client.end().catch(() => {});
  }
}

/** `false` when PostgreSQL answers; otherwise the visible skip reason (or a throw under IDEMKIT_REQUIRE). */
export const skip = skipUnlessAvailable("postgres", await probe());

export const newPool = (config: pg.PoolConfig = {}) =>
  new pg.Pool({ connectionString: databaseUrl, ...config });

/** A fresh schema and table for one test file, and the function that drops them. */
export async function freshTables(
  label: string,
): Promise<{ names: Required<PostgresTableOptions>; drop: () => Promise<void> }> {
  const id = randomBytes(4).toString("hex");
  // Quotes and spaces in both names prove that identifiers are quoted everywhere.
  const names = { schema: `idemkit test ${id}`, table: `keys "${label}"` };
  const pool = newPool({ max: 1 });
  await migrate(pool, names);
  await pool.end();
  return {
    names,
    async drop() {
      const admin = newPool({ max: 1 });
      await admin.query(`DROP SCHEMA IF EXISTS ${quoteIdentifier(names.schema)} CASCADE`);
      await admin.end();
    },
  };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Waits until a backend named `marker` (application_name), or running a statement containing it, waits on a lock. */
export async function waitForLockWait(pool: pg.Pool, marker: string, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const { rows } = await pool.query(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND (application_name = $1 OR position($1 in query) > 0) AND pid <> pg_backend_pid()",
      [marker],
    );
    if (rows[0].n > 0) return;
    await sleep(20);
  }
  throw new Error(`no statement containing ${marker} started waiting on a lock`);
}

/** A describe title that shows why the suite was skipped. */
export const titled = (name: string) => (skip ? `${name} (skipped: ${skip})` : name);

/**
 * This package's source transpiled to plain JS (no build step), for child processes: they import
 * `<dir>/index.js`. The caller removes the directory.
 */
export const transpiledPackage = () => transpilePackage(new URL("..", import.meta.url), "pg");

/** Strings (as UTF-8) and byte lists, joined. */
export const joinBytes = (...parts: (string | number[])[]) =>
  Buffer.concat(parts.map((part) => Buffer.from(part)));

/** Outcomes that find the edges: escapes at either end and side by side, multi-byte text, not UTF-8. */
export const EDGE_OUTCOMES: [string, Buffer][] = [
  ["empty", joinBytes()],
  ["ASCII", joinBytes('{"ok":true}')],
  ["multi-byte text and an emoji", joinBytes("żółć 漢字 😀")],
  ["NUL alone", joinBytes([0])],
  ["DLE alone", joinBytes([0x10])],
  [
    "NUL and DLE at both ends and side by side",
    joinBytes([0, 0x10], "a", [0x10, 0, 0, 0x10, 0x10], "b", [0x10, 0]),
  ],
  ["an escape's own bytes as content (DLE '0')", joinBytes([0x10], "0", [0x10, 0x10])],
  ["the kinds' letters first", joinBytes("tb")],
  ["an HTTP stored response's head (a u32 with NULs)", joinBytes("IK", [1, 0, 0, 0, 2], "{}", "body")],
  ["bytes that are not UTF-8", joinBytes([0xff, 0xfe, 0x80])],
  ["a surrogate's UTF-8 (not valid UTF-8)", joinBytes([0xed, 0xa0, 0x80])],
  ["a multi-byte character cut short", joinBytes("ok", [0xe2, 0x82])],
];

/** A claim with a fresh token (or `token`), a 30 s lease and 60 s retention. */
export const claimOf = (token = randomUUID()) => ({
  token,
  fingerprint: "fp",
  leaseMs: 30_000,
  retentionMs: 60_000,
});
