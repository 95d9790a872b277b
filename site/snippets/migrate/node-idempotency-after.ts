// After: idemkit's Express middleware; the route is back to its business logic.
import { createIdempotency } from "@idemkit/core";
import { idempotency } from "@idemkit/express";
import { createRedisStore } from "@idemkit/redis";
import express from "express";
import { Redis } from "ioredis";
import { accountIdOf, authenticate, createOrder } from "../your-app.js";

const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379", {
  enableOfflineQueue: false,
  commandTimeout: 1_000,
});
const idem = createIdempotency({
  store: createRedisStore({ client: redis }),
  retentionMs: 86_400_000, // cacheTTLMS, for completed outcomes only: a running request holds a lease
});

const app = express();
app.use(express.json(), authenticate);
// A key is required by default (node-idempotency: enforceIdempotency: true); `required: false` to relax.
app.use(idempotency(idem, { scope: (req) => accountIdOf(req) }));
app.post("/orders", async (req, res) => {
  res.status(201).json(await createOrder(req.body, { fence: res.locals.idempotency?.fence }));
});
