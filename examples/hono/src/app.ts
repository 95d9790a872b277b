import { createIdempotency, createMemoryStore, type IdempotencyStore } from "@idemkit/core";
import { Hono } from "hono";

/**
 * Hono runs on Web `Request`/`Response`, so the core handler is all it takes: no adapter.
 * `c.req.raw` goes in, the handler gets a fresh copy of the request (idemkit read the body to
 * fingerprint it) and its `Response` comes back, stored before the client sees it.
 */
export function createApp(store: IdempotencyStore = createMemoryStore()) {
  // Whose keys are whose: each account's keys are its own (behind authentication, return the account
  // id). This demo has no accounts: callers without the header share the "anonymous" key space.
  const idem = createIdempotency({
    store,
    scope: (request) => request.headers.get("x-account-id") ?? "anonymous",
  });
  const orders: { id: string; item: string; fence: number | undefined }[] = [];
  const app = new Hono();

  app.get("/orders", (c) => c.json(orders));

  app.post("/orders", (c) =>
    idem.handle(c.req.raw, async (request, { fence }) => {
      const { item } = (await request.json()) as { item?: string };
      if (typeof item !== "string") return Response.json({ error: "item is required" }, { status: 400 });
      const order = { id: `ord_${crypto.randomUUID()}`, item, fence };
      orders.push(order);
      return Response.json(order, { status: 201 });
    }),
  );

  return { app, orders };
}
