// After: idemkit's Express middleware. No hit check, no error reporting: a 5xx or a throw releases the key.
import { createIdempotency } from "@idemkit/core";
import { idempotency } from "@idemkit/express";
import { createPostgresStore, migrate } from "@idemkit/postgres";
import express from "express";
import pg from "pg";
import { accountIdOf, authenticate, createOrder } from "../your-app.js";

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
await migrate(pool);
const idem = createIdempotency({ store: createPostgresStore({ pool }) }); // or Redis, MongoDB, SQLite

const app = express();
app.use(express.json(), authenticate);
app.post("/orders", idempotency(idem, { scope: (req) => accountIdOf(req) }), async (req, res) => {
  res.status(201).json(await createOrder(req.body));
});
