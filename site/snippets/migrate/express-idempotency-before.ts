// Before: express-idempotency. The route checks isHit() itself, and reports failures.
import express from "express";
import { getSharedIdempotencyService, idempotency } from "express-idempotency";
import { createOrder } from "../your-app.js";

const app = express();
app.use(express.json());
app.post("/orders", idempotency(), async (req, res) => {
  const service = getSharedIdempotencyService();
  if (service.isHit(req)) return; // the middleware already answered (a replay, or an error via next)
  try {
    res.status(201).json(await createOrder(req.body));
  } catch (error) {
    await service.reportError(req); // forget the key, so a retry runs again
    res.status(500).json({ error: String(error) });
  }
});
