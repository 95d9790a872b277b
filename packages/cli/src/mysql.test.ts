// The CLI on MySQL / MariaDB: a table an app's store wrote (see testing/scenario.ts), of its own.
import { randomBytes } from "node:crypto";
import { skipUnlessAvailable } from "@idemkit/conformance";
import { createMySqlStore, encodeKey, type MySqlStore, migrate, quoteIdentifier } from "@idemkit/mysql";
import mysql from "mysql2/promise";
import { afterAll } from "vitest";
import { storeScenario } from "./testing/scenario.js";

// scripts/mariadb.sh starts a server here.
const url = process.env.MYSQL_URL ?? "mysql://root@127.0.0.1:3307/test";

async function probe(): Promise<string | undefined> {
  try {
    const connection = await mysql.createConnection({ uri: url, connectTimeout: 3000 });
    await connection.end();
    return undefined;
  } catch (error) {
    return `MySQL/MariaDB is not reachable at ${url.replace(/\/\/[^@/]*@/, "//***@")} (${(error as Error).message}); start one with scripts/mariadb.sh start`;
  }
}

const skip = skipUnlessAvailable("mysql", await probe());
const table = `idemkit cli ${randomBytes(4).toString("hex")}`;
afterAll(async () => {
  if (skip) return;
  const pool = mysql.createPool({ uri: url, connectionLimit: 1 });
  await pool.query(`DROP TABLE IF EXISTS ${quoteIdentifier(table)}`);
  await pool.end();
});

storeScenario("idemkit on MySQL (MariaDB)", skip, () => {
  const pool = mysql.createPool({ uri: url, connectionLimit: 4 });
  let store: MySqlStore;
  return {
    async store() {
      await migrate(pool, { table });
      store = createMySqlStore({ pool, table });
      return store;
    },
    close: () => pool.end(),
    async age(key) {
      await pool.query(
        `UPDATE ${quoteIdentifier(table)} SET claimed_at = claimed_at - 600000 WHERE key_text = ?`,
        [Buffer.from(encodeKey(key), "utf8")],
      );
    },
    args: ["--url", url, "--table", table],
    purges: true,
  };
});
