/**
 * The HTTP bench server (run as a child process by `run.ts`): one Express app, one POST route per
 * contender, all on the same Redis, all behind the same `express.json()` parser. Prints
 * `listening <port>` when ready.
 */
import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { IdempotencyConfig, makeIdempotent } from "@aws-lambda-powertools/idempotency";
import { CachePersistenceLayer } from "@aws-lambda-powertools/idempotency/cache";
import { createIdempotency } from "@idemkit/core";
import { idempotency } from "@idemkit/express";
import { createRedisStore } from "@idemkit/redis";
import * as nodeIdempotency from "@node-idempotency/core";
import { RedisStorageAdapter } from "@node-idempotency/storage-adapter-redis";
import { createClient } from "@redis/client";
import express from "express";
import { Redis } from "ioredis";

const [url = "redis://127.0.0.1:6379/9", runId = "http"] = process.argv.slice(2);
const RETENTION_MS = 600_000;

interface Order {
  amount: number;
  currency: string;
}
/** The route's own work, the same behind every contender. */
const createOrder = (order: Order) => ({ id: randomUUID(), status: "created", ...order });

const app = express();
app.disable("x-powered-by");
app.disable("etag");
app.use(express.json());

// The server's own CPU time (all threads, µs): the runner reads it around each load, for CPU per request.
app.get("/__cpu", (_req, res) => {
  const { user, system } = process.cpuUsage();
  res.json({ cpuUs: user + system });
});

app.post("/plain", (req, res) => {
  res.json(createOrder(req.body));
});

// idemkit: the @idemkit/express middleware on the route.
const ioredis = new Redis(url);
const idem = createIdempotency({
  store: createRedisStore({ client: ioredis }),
  retentionMs: RETENTION_MS,
  keyPrefix: `idem:${runId}:`,
});
app.post("/idemkit", idempotency(idem, { scope: "global" }), (req, res) => {
  res.status(201).json(createOrder(req.body));
});

// Reference, not a contender: the same claim/complete through core's `run()` called inside a plain
// route (no HTTP layer, no Web objects): what idemkit's engine and store cost on their own, so the
// HTTP layer's share of idemkit's cost can be read off.
const idemRun = createIdempotency({
  store: createRedisStore({ client: ioredis }),
  retentionMs: RETENTION_MS,
  keyPrefix: `idem:${runId}:run:`,
});
app.post("/idemkit-run", async (req, res) => {
  const key = req.get("idempotency-key");
  if (!key) return void res.status(400).json({ error: "Idempotency-Key required" });
  try {
    const value = await idemRun.run(
      { key, input: { method: req.method, path: req.path, body: req.body } },
      () => createOrder(req.body),
    );
    res.status(201).json(value);
  } catch (error) {
    res.status(409).json({ error: (error as Error).name });
  }
});

// Powertools: no HTTP integration outside Lambda (its middleware is for Middy); the route wraps its
// work in makeIdempotent, keyed by the Idempotency-Key header. No payload validation: its cache layer drops the
// validation hash on completion, so every replay would fail validation.
const redisClient = await createClient({ url }).connect();
const idempotentCreate = makeIdempotent(
  async (event: { key: string; body: Order }) => createOrder(event.body),
  {
    persistenceStore: new CachePersistenceLayer({ client: redisClient as never }),
    config: new IdempotencyConfig({
      eventKeyJmesPath: "key",
      expiresAfterSeconds: RETENTION_MS / 1000,
      // A 30 s "remaining time" is its in-progress expiry (its nearest thing to a lease); without a
      // Lambda context it warns on every request and records none.
      lambdaContext: { getRemainingTimeInMillis: () => 30_000 } as never,
    }),
    keyPrefix: `bench-${runId}-http-pt`,
  },
);
app.post("/powertools", async (req, res) => {
  const key = req.get("idempotency-key");
  if (!key) return void res.status(400).json({ error: "Idempotency-Key required" });
  try {
    res.status(201).json(await idempotentCreate({ key, body: req.body }));
  } catch (error) {
    if ((error as Error).name === "IdempotencyAlreadyInProgressError")
      res.status(409).json({ error: "in progress" });
    else res.status(500).json({ error: (error as Error).message });
  }
});

// node-idempotency: its HTTP hooks (onRequest before, onResponse after) in the route, as its NestJS
// interceptor (its only framework integration) does.
const storage = new RedisStorageAdapter({ url });
await storage.connect();
const ni = new nodeIdempotency.Idempotency(storage, {
  cacheKeyPrefix: `bench:${runId}:http-ni`,
  cacheTTLMS: RETENTION_MS,
});
app.post("/node-idempotency", async (req, res) => {
  const request = {
    headers: req.headers as Record<string, unknown>,
    path: req.path,
    method: req.method,
    body: req.body,
  };
  try {
    const cached = await ni.onRequest(request);
    if (cached) return void res.status(201).json(cached.body);
    const result = createOrder(req.body);
    await ni.onResponse(request, { body: result });
    res.status(201).json(result);
  } catch (error) {
    if (error instanceof nodeIdempotency.IdempotencyError) res.status(409).json({ error: error.code });
    else res.status(500).json({ error: (error as Error).message });
  }
});

const server = app.listen(0, "127.0.0.1", () => {
  console.log(`listening ${(server.address() as AddressInfo).port}`);
});
const stop = () => {
  server.close();
  server.closeAllConnections();
  ioredis.disconnect();
  void Promise.allSettled([redisClient.quit(), storage.disconnect()]).then(() => process.exit(0));
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
