import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import mysql, { type Pool } from "mysql2/promise";
import { mysqlBaseline, mysqlIdemkit } from "./contenders/mysql.js";
import type { Counter } from "./counts.js";
import type { StoreSetup } from "./setup.js";

/** scripts/mariadb.sh's throwaway MariaDB, as the @idemkit/mysql tests use it. */
export const MYSQL_URL = process.env.MYSQL_URL ?? "mysql://root@127.0.0.1:3307/test";
const MARIADB_SCRIPT = fileURLToPath(new URL("../../scripts/mariadb.sh", import.meta.url));
const MYSQL2_VERSION = (createRequire(import.meta.url)("mysql2/package.json") as { version: string }).version;
const CONNECTIONS = 16;

const shown = (url: string) => url.replace(/\/\/[^@/]*@/, "//***@");

async function serverVersion(pool: Pool): Promise<string> {
  const [rows] = await pool.query("SELECT VERSION() AS v");
  return (rows as { v: string }[])[0]!.v;
}

/** A MariaDB server binary where scripts/mariadb.sh looks for one (it installs one otherwise: not here). */
const mariadbInstalled = () =>
  ["mariadbd", "mysqld"].some(
    (name) =>
      existsSync(`/usr/sbin/${name}`) ||
      (process.env.PATH ?? "").split(":").some((dir) => existsSync(`${dir}/${name}`)),
  );

/**
 * Starts scripts/mariadb.sh's server when the default URL does not answer and MariaDB is installed; the
 * reason it did not, otherwise. The server is left running (the @idemkit/mysql tests use it too):
 * `bash scripts/mariadb.sh stop` ends it.
 */
function startMariadb(): string | undefined {
  if (process.env.MYSQL_URL) return "MYSQL_URL is set: the bench starts no server of its own";
  if (!mariadbInstalled()) {
    return "no MariaDB server installed (`bash scripts/mariadb.sh start` installs Debian's mariadb-server and starts it)";
  }
  try {
    const said = execFileSync("bash", [MARIADB_SCRIPT, "start"], { encoding: "utf8", stdio: "pipe" });
    console.log(`  ${said.trim()}`);
    return undefined;
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? "").trim();
    return `scripts/mariadb.sh start failed: ${stderr.split("\n").pop() || (error as Error).message}`;
  }
}

/**
 * Both contenders on one mysql2 Pool (16 connections, `multipleStatements` for the baseline's two
 * statements in one round trip). Every command a pool connection sends is counted: the store leases a
 * connection per statement (`getConnection`), so a wrapper on `pool.query` would not see its statements.
 */
export async function setupMysql(runId: string): Promise<StoreSetup | string> {
  const counter: Counter = { count: 0 };
  const open = () => {
    const created = mysql.createPool({
      uri: MYSQL_URL,
      connectionLimit: CONNECTIONS,
      multipleStatements: true,
      connectTimeout: 3000,
    });
    created.on("connection", (connection) => countCommands(connection, counter));
    return created;
  };
  let pool = open();
  let version: string;
  try {
    version = await serverVersion(pool);
  } catch (error) {
    await pool.end().catch(() => {});
    const why = startMariadb();
    if (why) return `MySQL/MariaDB unreachable at ${shown(MYSQL_URL)} (${(error as Error).message}); ${why}`;
    pool = open();
    try {
      version = await serverVersion(pool);
    } catch (again) {
      await pool.end().catch(() => {});
      return `MySQL/MariaDB unreachable at ${shown(MYSQL_URL)} after scripts/mariadb.sh start: ${(again as Error).message}`;
    }
  }
  const table = `bench_${runId}`;
  const contenders = [await mysqlIdemkit(pool, `${table}_idem`), await mysqlBaseline(pool, `${table}_bl`)];
  // The store's first claim checks the table and reads max_allowed_packet, once: paid here, not counted.
  for (const c of contenders) await c.run(`${runId}:mysql:prime:${c.name}`, {}, async () => ({}));
  return {
    store: "mysql",
    contenders,
    burstOnly: [],
    counter,
    counterSource: "a counting wrapper on every command the mysql2 pool's connections send",
    version: `${/mariadb/i.test(version) ? "MariaDB" : "MySQL"} ${version.replace(/-.*/, "")} (mysql2 ${MYSQL2_VERSION} Pool, ${CONNECTIONS} connections)`,
    teardown: async () => {
      for (const c of contenders) await c.close();
      await pool.end();
    },
  };
}

/** Counts every command (query, execute, prepare: each a round trip) the connection sends from now on. */
function countCommands(connection: unknown, counter: Counter): void {
  const c = connection as { addCommand(command: unknown): unknown };
  const add = c.addCommand.bind(c);
  c.addCommand = (command) => {
    counter.count++;
    return add(command);
  };
}
