// Shared by the test files; excluded from the build and the package.
import { randomBytes } from "node:crypto";
import { skipUnlessAvailable } from "@idemkit/conformance";
import mysql, { type Pool, type PoolOptions } from "mysql2/promise";
import { transpilePackage } from "../../../scripts/transpile-package.mjs";
import { migrate, quoteIdentifier } from "./schema.js";

/** scripts/mariadb.sh starts a server here. */
export const mysqlUrl = process.env.MYSQL_URL ?? "mysql://root@127.0.0.1:3307/test";

async function probe(): Promise<string | undefined> {
  try {
    const connection = await mysql.createConnection({ uri: mysqlUrl, connectTimeout: 3000 });
    try {
      await connection.query("SELECT 1");
      return undefined;
    } finally {
      await connection.end().catch(() => {});
    }
  } catch (error) {
    const where = mysqlUrl.replace(/\/\/[^@/]*@/, "//***@");
    return `MySQL/MariaDB is not reachable at ${where} (${(error as Error).message}); start one with scripts/mariadb.sh start`;
  }
}

/** `false` when the server answers; otherwise the visible skip reason (or a throw under IDEMKIT_REQUIRE). */
export const skip = skipUnlessAvailable("mysql", await probe());

export const newPool = (config: PoolOptions = {}) =>
  mysql.createPool({ uri: mysqlUrl, connectionLimit: 10, ...config });

/** A fresh table for one test file, and the function that drops it. */
export async function freshTable(
  label: string,
): Promise<{ table: string; id: string; drop: () => Promise<void> }> {
  // A backtick, quotes and spaces in the name prove that it is quoted everywhere.
  const id = randomBytes(4).toString("hex");
  const table = `idemkit \`${label}\` "${id}"`;
  const pool = newPool({ connectionLimit: 1 });
  await migrate(pool, { table });
  await pool.end();
  return {
    table,
    id,
    async drop() {
      const admin = newPool({ connectionLimit: 1 });
      await admin.query(`DROP TABLE IF EXISTS ${quoteIdentifier(table)}`);
      await admin.end();
    },
  };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A describe title that shows why the suite was skipped. */
export const titled = (name: string) => (skip ? `${name} (skipped: ${skip})` : name);

/** The rows of a mysql2 answer. */
export const rowsOf = async <T = unknown>(answer: Promise<[unknown, unknown]>) => (await answer)[0] as T[];

/** The first row of a mysql2 answer; a throw when there is none. */
export async function firstRow<T>(answer: Promise<[unknown, unknown]>): Promise<T> {
  const [row] = await rowsOf<T>(answer);
  if (row === undefined) throw new Error("the query returned no row");
  return row;
}

/**
 * This package's source transpiled to plain JS (no build step), for child processes: they import
 * `<dir>/index.js`. The caller removes the directory.
 */
export const transpiledPackage = () => transpilePackage(new URL("..", import.meta.url), "mysql");

type Statement = { sql: string };
type Query = (statement: Statement, values?: unknown) => Promise<[unknown, unknown]>;

/**
 * `pool` with every statement of its leased connections (the store leases one per statement) going
 * through `intercept`, which may answer itself or call `next`.
 */
export function interceptedPool(
  pool: Pool,
  intercept: (statement: Statement, values: unknown, next: Query) => Promise<[unknown, unknown]>,
): Pool {
  const getConnection = async () => {
    const connection = await pool.getConnection();
    const next: Query = (statement, values) => connection.query(statement as never, values as never);
    return new Proxy(connection, {
      get(target, property) {
        if (property === "query") {
          return (statement: Statement | string, values?: unknown) =>
            intercept(typeof statement === "string" ? { sql: statement } : statement, values, next);
        }
        const value = Reflect.get(target, property);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  };
  return { getConnection, query: pool.query.bind(pool), execute: pool.execute.bind(pool) } as unknown as Pool;
}
