// Child process for the crash test: starts a transactional run, says so, then hangs until SIGKILL.
// argv: <store module URL> <MYSQL_URL> <table> <key> <business table SQL>
import mysql from "mysql2/promise";

const [moduleUrl, url, table, key, business] = process.argv.slice(2);
const { createMySqlStore } = await import(moduleUrl);
const pool = mysql.createPool({ uri: url, connectionLimit: 2 });
const store = createMySqlStore({ pool, table });
await store.transaction(key, { fingerprint: "fp", retentionMs: 60_000 }, async ({ client, fence }) => {
  await client.execute(`INSERT INTO ${business} (id) VALUES (?)`, [key]);
  process.stdout.write(`inside work, fence ${fence}, thread ${client.threadId}\n`);
  await new Promise(() => {});
});
