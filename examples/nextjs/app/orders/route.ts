import { createIdempotency, createMemoryStore } from "@idemkit/core";

// A Next.js App Router route handler (app/orders/route.ts): plain Web Request → Response functions,
// so the core handler wraps them directly. No adapter, no Next-specific API.
export const runtime = "nodejs";
export const dynamic = "force-dynamic";

// One instance per server process. The memory store keeps this example self-contained; in production
// use a shared store (@idemkit/redis, @idemkit/postgres…): Next.js may run the route in many processes.
// Whose keys are whose: each account's keys are its own (behind authentication, return the account
// id). This demo has no accounts: callers without the header share the "anonymous" key space.
const idem = createIdempotency({
  store: createMemoryStore(),
  scope: (request) => request.headers.get("x-account-id") ?? "anonymous",
});

interface Order {
  id: string;
  item: string;
  quantity: number;
}
const orders: Order[] = [];

export async function GET(): Promise<Response> {
  return Response.json(orders);
}

export const POST = idem.wrap(async (request) => {
  const input = (await request.json().catch(() => null)) as { item?: unknown; quantity?: unknown } | null;
  if (typeof input?.item !== "string" || !Number.isInteger(input.quantity)) {
    return Response.json({ error: "expected { item: string, quantity: integer }" }, { status: 400 });
  }
  const order = { id: `ord_${crypto.randomUUID()}`, item: input.item, quantity: input.quantity as number };
  orders.push(order);
  return Response.json(order, { status: 201 });
});
