// #region store
import { createIdempotency } from "@idemkit/core";
import { createMySqlStore, migrate } from "@idemkit/mysql";
import mysql, { type ResultSetHeader } from "mysql2/promise";
import { accountIdOf } from "./your-app.js";

const pool = mysql.createPool(process.env.MYSQL_URL ?? "mysql://app@127.0.0.1:3306/shop");
await migrate(pool); // once, at deploy or boot; safe to run concurrently and repeatedly
const store = createMySqlStore({ pool });

const idem = createIdempotency({ store, scope: (request) => accountIdOf(request) });
// #endregion store

// #region purge
// From one instance, with a modest limit: concurrent purges wait on each other's rows.
setInterval(() => void store.purgeExpired({ limit: 1000 }), 60_000).unref();
// #endregion purge

// #region transactional
// Transactional mode: the key row, the order and the stored response commit together, or none does.
const createOrder = idem.transactional(store).wrap(async (request, { client, fence }) => {
  const { item } = (await request.json()) as { item: string };
  const [inserted] = await client.execute<ResultSetHeader>("INSERT INTO orders (item, fence) VALUES (?, ?)", [
    item,
    fence,
  ]);
  // a 5xx or a throw rolls back the order and the key
  return Response.json({ id: inserted.insertId, item }, { status: 201 });
});

export default { fetch: createOrder }; // or mount it on node:http, Hono, Next.js, …
// #endregion transactional
