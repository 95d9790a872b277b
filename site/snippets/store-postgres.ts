// #region store
import { createIdempotency } from "@idemkit/core";
import { createPostgresStore, migrate } from "@idemkit/postgres";
import pg from "pg";
import { accountIdOf } from "./your-app.js";

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
pool.on("error", (error) => console.error("idle pg client lost", error)); // pg's advice
await migrate(pool); // once, at deploy or boot; safe to run concurrently and repeatedly
const store = createPostgresStore({ pool });

const idem = createIdempotency({ store, scope: (request) => accountIdOf(request) });
// #endregion store

// #region purge
setInterval(() => void store.purgeExpired({ limit: 1000 }), 60_000).unref(); // any number of instances
// #endregion purge

// #region transactional
// Transactional mode: the key row, the order and the stored response commit together, or none does.
const createOrder = idem.transactional(store).wrap(async (request, { client, fence }) => {
  const { item } = (await request.json()) as { item: string };
  const { rows } = await client.query("INSERT INTO orders (item, fence) VALUES ($1, $2) RETURNING *", [
    item,
    fence,
  ]);
  return Response.json(rows[0], { status: 201 }); // a 5xx or a throw rolls back the order and the key
});

export default { fetch: createOrder }; // or mount it on node:http, Hono, Next.js, …
// #endregion transactional
