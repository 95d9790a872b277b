// #region app
import { createIdempotency, createMemoryStore } from "@idemkit/core";
import { idempotency } from "@idemkit/express";
import express from "express";
import { accountIdOf, authenticate, createOrder } from "./your-app.js";

const idem = createIdempotency({ store: createMemoryStore() }); // one process only: see "Choosing a store"

const app = express();
app.use(express.json()); // body parsers first: idemkit fingerprints req.body
app.use(authenticate); // then authentication, so `scope` knows the caller
// POST and PATCH now need an Idempotency-Key and run once per key and account.
app.use(idempotency(idem, { scope: (req) => accountIdOf(req) }));

app.post("/orders", async (req, res) => {
  const { fence, signal } = res.locals.idempotency!; // this request's claim
  const order = await createOrder(req.body, { fence, signal });
  res.status(201).json(order); // stored first, then sent: a retry gets exactly this
});

app.listen(3000);
// #endregion app

// #region per-route
// Per route, with options of its own (any core HTTP option):
app.post(
  "/payments",
  idempotency(idem, { scope: (req) => accountIdOf(req), maxResponseBytes: 64 * 1024 }),
  async (req, res) => {
    res.status(201).json(await createOrder(req.body));
  },
);
// #endregion per-route
