// server.ts — `bun run server.ts` serves a default export that has a fetch method.
import { createIdempotency } from "@idemkit/core";
import { createRedisStore } from "@idemkit/redis";
import { Redis } from "ioredis";
import { accountIdOf, createOrder } from "./your-app.js";

const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379", { enableOfflineQueue: false });
const idem = createIdempotency({ store: createRedisStore({ client: redis }), scope: accountIdOf });

export default {
  port: 3000,
  fetch: idem.wrap(async (request, { fence }) => {
    return Response.json(await createOrder(await request.json(), { fence }), { status: 201 });
  }),
};
