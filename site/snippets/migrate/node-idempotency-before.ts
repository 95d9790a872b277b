// Before: @node-idempotency/core's hooks around an Express route.
import { Idempotency, IdempotencyError, IdempotencyErrorCodes } from "@node-idempotency/core";
import { RedisStorageAdapter } from "@node-idempotency/storage-adapter-redis";
import express from "express";
import { createOrder } from "../your-app.js";

const storage = new RedisStorageAdapter({ url: process.env.REDIS_URL });
await storage.connect();
const idempotency = new Idempotency(storage, { cacheTTLMS: 86_400_000, enforceIdempotency: true });

const app = express();
app.use(express.json());
app.post("/orders", async (req, res) => {
  const request = { headers: req.headers, body: req.body, path: req.path, method: req.method };
  try {
    const cached = await idempotency.onRequest(request);
    if (cached) {
      res.status(Number(cached.additional?.statusCode ?? 200)).json(cached.body);
      return;
    }
  } catch (error) {
    if (!(error instanceof IdempotencyError)) throw error;
    const status = error.code === IdempotencyErrorCodes.REQUEST_IN_PROGRESS ? 409 : 422;
    res.status(status).json({ error: error.message });
    return;
  }
  const order = await createOrder(req.body);
  await idempotency.onResponse(request, { body: order, additional: { statusCode: 201 } });
  res.status(201).json(order);
});
