// After: the same handler through idemkit's Web handler, on Hono's Lambda adapter.
import { createIdempotency } from "@idemkit/core";
import { createRedisStore } from "@idemkit/redis"; // or @idemkit/postgres, @idemkit/mongodb, your own store
import { Hono } from "hono";
import { handle } from "hono/aws-lambda";
import { Redis } from "ioredis";
import { accountIdOf, createOrder } from "../your-app.js";

const idem = createIdempotency({
  store: createRedisStore({ client: new Redis({ enableOfflineQueue: false, commandTimeout: 1_000 }) }),
  scope: (request) => accountIdOf(request), // whose key it is: Powertools has no equivalent
  retentionMs: 3_600_000, // Powertools' expiresAfterSeconds
});

const app = new Hono();
app.post("/orders", (c) =>
  idem.handle(c.req.raw, async (request, { fence }) =>
    Response.json(await createOrder(await request.json(), { fence }), { status: 201 }),
  ),
);
export const handler = handle(app);
