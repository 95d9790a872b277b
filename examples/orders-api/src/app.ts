import { randomUUID } from "node:crypto";
import { createIdempotency, type IdempotencyEvent } from "@idemkit/core";
import { createSqliteStore } from "@idemkit/sqlite";
import Database from "better-sqlite3";

export interface OrdersAppOptions {
  /** The SQLite file that holds both the orders and the idempotency keys. */
  file: string;
  /** Simulated work per order, in ms (a payment call, say). Default 0. */
  workMs?: () => number;
  /** Simulated flaky downstream: when it returns true, the handler answers 503 and creates nothing. */
  failTransiently?: () => boolean;
  onEvent?: (event: IdempotencyEvent) => void;
}

export interface Order {
  id: string;
  item: string;
  quantity: number;
  reference: string | null;
  createdAt: string;
}

/** A small orders API on the core Web handler, with orders and keys in one SQLite file. */
export function createOrdersApp(options: OrdersAppOptions) {
  const db = new Database(options.file);
  db.pragma("journal_mode = WAL");
  db.exec(`CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY, item TEXT NOT NULL, quantity INTEGER NOT NULL, reference TEXT, created_at TEXT NOT NULL
  )`);
  const insertOrder = db.prepare(
    "INSERT INTO orders (id, item, quantity, reference, created_at) VALUES (@id, @item, @quantity, @reference, @createdAt)",
  );
  const allOrders = db.prepare(
    "SELECT id, item, quantity, reference, created_at AS createdAt FROM orders ORDER BY created_at, id",
  );

  const stats = { executions: 0, simulatedFailures: 0 };
  // Whose keys are whose: each account's keys are its own (behind authentication, return the account
  // id). This demo has no accounts: callers without the header share the "anonymous" key space.
  const idem = createIdempotency({
    store: createSqliteStore({ database: db }),
    scope: (request) => request.headers.get("x-account-id") ?? "anonymous",
    onEvent: options.onEvent,
  });

  const json = (status: number, body: unknown) => Response.json(body, { status });

  async function createOrder(request: Request): Promise<Response> {
    stats.executions++;
    let input: { item?: unknown; quantity?: unknown; reference?: unknown };
    try {
      input = await request.json();
    } catch {
      return json(400, { error: "body must be JSON" });
    }
    if (
      typeof input.item !== "string" ||
      !Number.isInteger(input.quantity) ||
      (input.quantity as number) < 1
    ) {
      return json(400, { error: "expected { item: string, quantity: positive integer }" });
    }
    const delay = options.workMs?.() ?? 0;
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    if (options.failTransiently?.()) {
      stats.simulatedFailures++;
      return json(503, { error: "payment provider unavailable, retry" });
    }
    const order: Order = {
      id: `ord_${randomUUID()}`,
      item: input.item,
      quantity: input.quantity as number,
      reference: typeof input.reference === "string" ? input.reference : null,
      createdAt: new Date().toISOString(),
    };
    insertOrder.run(order);
    return json(201, order);
  }

  async function fetch(request: Request): Promise<Response> {
    const { pathname } = new URL(request.url);
    if (pathname !== "/orders") return json(404, { error: "not found" });
    if (request.method === "GET") return json(200, allOrders.all() as Order[]);
    if (request.method === "POST") return idem.handle(request, createOrder);
    return new Response(null, { status: 405, headers: { allow: "GET, POST" } });
  }

  return {
    fetch,
    stats,
    orders: () => allOrders.all() as Order[],
    close: () => db.close(),
  };
}
