// #region store
import { createIdempotency } from "@idemkit/core";
import { createSqliteStore } from "@idemkit/sqlite";
import Database from "better-sqlite3";
import { accountIdOf } from "./your-app.js";

const db = new Database("app.db");
db.pragma("journal_mode = WAL"); // recommended when several processes share the file
const store = createSqliteStore({ database: db }); // or { database: "data/idem.db" }: the store opens and closes it

const idem = createIdempotency({ store, scope: (request) => accountIdOf(request) });
// #endregion store

// #region purge
setInterval(() => void store.purgeExpired(), 60 * 60 * 1000).unref(); // optional: claims also purge as they go
// #endregion purge

// #region transactional
db.exec("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, item TEXT NOT NULL)");
const encoder = new TextEncoder();

function createOrderOnce(key: string, item: string) {
  const run = store.transactionSync(
    key, // yours to scope: this is a store-level call, not wired to the HTTP layer
    { fingerprint: item, retentionMs: 86_400_000 },
    ({ client, fence }) => {
      const order = client.prepare("INSERT INTO orders (item) VALUES (?) RETURNING *").get(item);
      return { value: order, result: encoder.encode(JSON.stringify({ order, fence })), commit: true };
    },
  );
  if (run.acquired) return run.value; // ran now: the order row and the key committed together
  return run.record.state === "completed" // a duplicate: the first one's outcome, or still running
    ? JSON.parse(new TextDecoder().decode(run.record.result))
    : undefined;
}

// #endregion transactional
export { createOrderOnce, idem };
