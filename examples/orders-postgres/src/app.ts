import { createIdempotency, type IdempotencyEvent } from "@idemkit/core";
import { createPostgresStore, migrate, quoteIdentifier } from "@idemkit/postgres";
import type { Pool } from "pg";

export interface PostgresOrdersAppOptions {
  pool: Pool;
  /** Schema for the orders table and the keys table. Default `public`. */
  schema?: string;
  onEvent?: (event: IdempotencyEvent) => void;
}

/**
 * Orders on PostgreSQL in transactional mode: the order row, the idempotency key and the stored
 * response commit in one transaction, or none of them does.
 */
export async function createPostgresOrdersApp(options: PostgresOrdersAppOptions) {
  const schema = options.schema ?? "public";
  const orders = `${quoteIdentifier(schema)}.orders`;
  await migrate(options.pool, { schema });
  await options.pool.query(
    `CREATE TABLE IF NOT EXISTS ${orders} (
       id bigserial PRIMARY KEY, item text NOT NULL, quantity integer NOT NULL, created_at timestamptz NOT NULL DEFAULT now()
     )`,
  );
  const store = createPostgresStore({ pool: options.pool, schema });
  // Whose keys are whose: each account's keys are its own (behind authentication, return the account
  // id). This demo has no accounts: callers without the header share the "anonymous" key space.
  const idem = createIdempotency({
    store,
    scope: (request) => request.headers.get("x-account-id") ?? "anonymous",
    onEvent: options.onEvent,
  });
  const stats = { executions: 0 };

  const createOrder = idem.transactional(store).wrap(async (request, { client }) => {
    stats.executions++;
    const input = (await request.json()) as { item?: unknown; quantity?: unknown };
    if (typeof input.item !== "string" || !Number.isInteger(input.quantity)) {
      return Response.json({ error: "expected { item: string, quantity: integer }" }, { status: 400 });
    }
    const { rows } = await client.query(
      `INSERT INTO ${orders} (item, quantity) VALUES ($1, $2) RETURNING id::text, item, quantity`,
      [input.item, input.quantity],
    );
    // A failure after the write (a payment provider down, say) rolls the order back with the key.
    if (request.headers.get("x-simulate") === "downstream-503") {
      return Response.json({ error: "payment provider unavailable" }, { status: 503 });
    }
    if (request.headers.get("x-simulate") === "crash") throw new Error("handler crashed after the insert");
    return Response.json(rows[0], { status: 201 });
  });

  async function fetch(request: Request): Promise<Response> {
    const { pathname } = new URL(request.url);
    if (pathname !== "/orders") return Response.json({ error: "not found" }, { status: 404 });
    if (request.method === "POST") return createOrder(request);
    if (request.method === "GET") {
      const { rows } = await options.pool.query(`SELECT id::text, item, quantity FROM ${orders} ORDER BY id`);
      return Response.json(rows);
    }
    return new Response(null, { status: 405, headers: { allow: "GET, POST" } });
  }

  return { fetch, stats, store };
}
