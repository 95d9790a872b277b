import type { AddressInfo } from "node:net";
import { createIdempotency, createMemoryStore, type IdempotencyStore } from "@idemkit/core";
import { idempotency } from "@idemkit/express";
import type { Tracer } from "@opentelemetry/api";
import express from "express";
import { instrument, type OtelOptions } from "../instrument.js";

/** A store whose every call fails, as one that is down does. */
export function downStore(): IdempotencyStore {
  const down = () => Promise.reject(new Error("connection refused"));
  return new Proxy(createMemoryStore(), {
    get: (store, name) => (typeof Reflect.get(store, name) === "function" ? down : Reflect.get(store, name)),
  });
}

export interface OrdersAppOptions extends OtelOptions {
  store?: IdempotencyStore;
  /** Opens a span around each request before idemkit runs, as HTTP instrumentation does. */
  serverTracer?: Tracer;
  /** Mount idemkit on each route instead of app-wide. */
  perRoute?: boolean;
}

/**
 * An Express 5 app with idemkit, instrumented, listening on loopback: `POST /orders/:id` (201),
 * `POST /slow` (answers when `release()` is called), `POST /boom` (throws), and `POST /api/items/:id`
 * on a router.
 */
export async function ordersApp(options: OrdersAppOptions = {}) {
  const { store = createMemoryStore(), serverTracer, perRoute = false, ...otel } = options;
  const idem = createIdempotency({ store });
  instrument(idem, otel);
  let releaseSlow: () => void = () => {};
  let slowStarted: () => void = () => {};
  const slowRunning = new Promise<void>((resolve) => (slowStarted = resolve));

  const app = express();
  if (serverTracer) {
    app.use((req, res, next) => {
      serverTracer.startActiveSpan(`server ${req.method}`, (span) => {
        res.on("finish", () => span.end());
        next();
      });
    });
  }
  app.use(express.json());
  const idempotent = idempotency(idem, { scope: "global" });
  if (!perRoute) app.use(idempotent);
  const onRoute = perRoute ? [idempotent] : [];
  app.post("/orders/:id", ...onRoute, (req, res) => {
    res.status(201).json({ id: req.params.id, ...req.body });
  });
  app.post("/slow", ...onRoute, async (_req, res) => {
    slowStarted();
    await new Promise<void>((resolve) => (releaseSlow = resolve));
    res.status(201).json({ slow: true });
  });
  app.post("/boom", ...onRoute, () => {
    throw new TypeError("boom");
  });
  const router = express.Router();
  router.post("/items/:id", ...onRoute, (_req, res) => {
    res.status(201).json({ item: true });
  });
  app.use("/api", router);

  const server = app.listen(0, "127.0.0.1");
  await new Promise<void>((resolve) => server.once("listening", resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    idem,
    slowRunning,
    release: () => releaseSlow(),
    post: (path: string, key: string | null, body: unknown = { item: "book" }) =>
      fetch(`${origin}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(key === null ? {} : { "idempotency-key": key }) },
        body: JSON.stringify(body),
      }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
