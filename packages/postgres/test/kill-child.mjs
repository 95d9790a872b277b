// Child process for the crash test: starts a transactional run, says so, then hangs until SIGKILL.
// argv: <store module URL> <DATABASE_URL> <application_name> <table options JSON> <key> <business table SQL>
import pg from "pg";

const [moduleUrl, url, applicationName, tableOptions, key, business] = process.argv.slice(2);
const { createPostgresStore } = await import(moduleUrl);
const pool = new pg.Pool({ connectionString: url, application_name: applicationName });
const store = createPostgresStore({ pool, ...JSON.parse(tableOptions) });
await store.transaction(key, { fingerprint: "fp", retentionMs: 60_000 }, async ({ client, fence }) => {
  await client.query(`INSERT INTO ${business} (id) VALUES ($1)`, [key]);
  process.stdout.write(`inside work, fence ${fence}\n`);
  await new Promise(() => {});
});
