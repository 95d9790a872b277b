// app/api/orders/route.ts — an App Router route handler is a Web Request → Response function.
import { createIdempotency } from "@idemkit/core";
import { createRedisStore } from "@idemkit/redis";
import { Redis } from "ioredis";
import { accountIdOf, createOrder } from "../../../../your-app.js";

export const runtime = "nodejs"; // ioredis, pg, better-sqlite3 and mongodb need Node
export const dynamic = "force-dynamic";

// Module scope: one client and one instance per server process, reused across requests.
const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379", {
  enableOfflineQueue: false,
  commandTimeout: 1_000,
  maxRetriesPerRequest: 1,
});
const idem = createIdempotency({
  store: createRedisStore({ client: redis }), // shared: Next.js may run this route in many processes
  scope: (request) => accountIdOf(request),
});

export const POST = idem.wrap(async (request, { fence, signal }) => {
  const order = await createOrder(await request.json(), { fence, signal });
  return Response.json(order, { status: 201 });
});
