import { createMemoryStore } from "@idemkit/core";
import { idempotency } from "@idemkit/express";
import express from "express";

const app = express();
app.use(express.json());
// #region options
// Without an instance: the options of createIdempotency and the HTTP options in one object.
app.use(
  idempotency({
    store: createMemoryStore(),
    leaseMs: 30_000,
    retentionMs: 24 * 60 * 60 * 1000,
    scope: "global", // only if keys are unique across all clients (UUIDs from your own services)
    waitForInFlight: true, // a duplicate waits for the first and gets its replay, instead of a 409
  }),
);
// #endregion options
