import { createIdempotency } from "@idemkit/core";
import { createPostgresStore } from "@idemkit/postgres";
import pg from "pg";
import { accountIdOf } from "./your-app.js";

const pool = new pg.Pool();
const idem = createIdempotency({ store: createPostgresStore({ pool }), scope: (r) => accountIdOf(r) });

// #region fence
export const POST = idem.wrap(async (request, { key, fence, signal }) => {
  const { amount } = (await request.json()) as { amount: number };
  // A write keyed by the idempotency key, fenced: an owner that lost its lease (paused, cut off) and
  // still writes carries a lower fence than its successor, and changes nothing.
  const { rowCount } = await pool.query(
    `INSERT INTO payouts (request_key, amount, fence) VALUES ($1, $2, $3)
     ON CONFLICT (request_key) DO UPDATE SET amount = excluded.amount, fence = excluded.fence
     WHERE payouts.fence < excluded.fence`,
    [key, amount, fence],
  );
  if (signal.aborted || rowCount === 0) return Response.json({ error: "superseded" }, { status: 503 });
  return Response.json({ key, amount }, { status: 201 });
});
// #endregion fence
