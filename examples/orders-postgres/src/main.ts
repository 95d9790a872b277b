import { createServer } from "node:http";
import { createRequestListener } from "@idemkit/node";
import pg from "pg";
import { createPostgresOrdersApp } from "./app.js";

// DATABASE_URL defaults to the local test database; PORT to 3001.
const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test",
  connectionTimeoutMillis: 2_000,
});
const app = await createPostgresOrdersApp({ pool });
const port = Number(process.env.PORT ?? 3001);
createServer(createRequestListener(app.fetch)).listen(port, "127.0.0.1", () => {
  console.log(`orders on PostgreSQL (transactional mode) at http://127.0.0.1:${port}`);
  console.log(`try: curl -i -X POST http://127.0.0.1:${port}/orders -H 'Idempotency-Key: "k1"' \\`);
  console.log(`       -H 'content-type: application/json' -d '{"item":"book","quantity":1}'`);
});
