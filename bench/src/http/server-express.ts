/**
 * The Express HTTP bench server: one POST route per contender, all on the same Redis, all behind
 * the same `express.json()` parser, and the measuring sticks of floor-route.ts (for interleave.ts
 * only). Prints `listening <port>` when ready.
 */
import { createServer } from "node:http";
import { IdempotencyConfig, makeIdempotent } from "@aws-lambda-powertools/idempotency";
import { CachePersistenceLayer } from "@aws-lambda-powertools/idempotency/cache";
import { createIdempotency } from "@idemkit/core";
import { idempotency } from "@idemkit/express";
import { createRedisStore } from "@idemkit/redis";
import * as nodeIdempotency from "@node-idempotency/core";
import { RedisStorageAdapter } from "@node-idempotency/storage-adapter-redis";
import { createClient } from "@redis/client";
import express from "express";
import { answersAtOnce } from "../contenders/noop.js";
import {
  cpuReading,
  createOrder,
  idem,
  listen,
  type Order,
  REDIS,
  RETENTION_MS,
  RUN_ID,
  runReference,
} from "./common.js";
import { floorRoute, sendOn6, sendOnNodeIdempotencyClient, storeFloorRoute } from "./floor-route.js";

const app = express();
app.disable("x-powered-by");
app.disable("etag");
app.use(express.json());

app.get("/__cpu", (_req, res) => {
  res.json(cpuReading());
});

// A full collection on request (a server started with `--expose-gc`): instructions.ts starts each
// count from one, so every count sees the same collections.
app.get("/__gc", (_req, res) => {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  res.json({ collected: gc !== undefined });
});

app.post("/plain", (req, res) => {
  res.json(createOrder(req.body));
});

// idemkit: the @idemkit/express middleware on the route.
app.post("/idemkit", idempotency(idem, { scope: "global" }), (req, res) => {
  res.status(201).json(createOrder(req.body));
});

// A measuring stick: the same middleware on a store that answers every call at once, so the route
// costs its HTTP path's own work and nothing of Redis's (read against `/plain`, or against itself on
// another build: interleave.ts `idemkit-at-once idemkit-at-once@<checkout>`).
const atOnce = createIdempotency({
  // Settled as it returns, as the Redis store's calls are bounded by its client: no deadline timer.
  store: { ...answersAtOnce(false), settlesOnReturn: true },
  retentionMs: RETENTION_MS,
});
app.post("/idemkit-at-once", idempotency(atOnce, { scope: "global" }), (req, res) => {
  res.status(201).json(createOrder(req.body));
});

// idemkit on node-redis, the client node-idempotency's route uses, with the options the store's
// README recommends: the same middleware, so the two routes differ in their Redis client only.
const nodeRedis = await createClient({
  url: REDIS,
  disableOfflineQueue: true,
  commandOptions: { timeout: 0 },
}).connect();
const idemOnNodeRedis = createIdempotency({
  store: createRedisStore({ client: nodeRedis }),
  retentionMs: RETENTION_MS,
  keyPrefix: `idem:${RUN_ID}:node-redis:`,
});
app.post("/idemkit-node-redis", idempotency(idemOnNodeRedis, { scope: "global" }), (req, res) => {
  res.status(201).json(createOrder(req.body));
});

// Measuring sticks (floor-route.ts): the guarantees' least cost by hand, on node-redis 6 and on
// node-idempotency's node-redis 4, and its variants without one script or both.
const onNodeRedis6 = sendOn6(nodeRedis as never);
const onNodeRedis4 = await sendOnNodeIdempotencyClient(REDIS);
const order = (body: unknown) => createOrder(body as Order);
const floors = [
  ["floor", onNodeRedis6, "script"],
  ["floor-v4", onNodeRedis4.send, "script"],
  ["floor-set", onNodeRedis6, "set"],
  ["floor-plain", onNodeRedis6, "plain"],
] as const;
for (const [name, send, mode] of floors) {
  app.post(`/${name}`, await floorRoute(send, `idem:${RUN_ID}:${name}:`, RETENTION_MS, order, mode));
}
app.post(
  "/floor-store",
  storeFloorRoute(
    createRedisStore({ client: nodeRedis, prefix: `idem:${RUN_ID}:floor-store:` }),
    RETENTION_MS,
    order,
  ),
);
const runOnNodeRedis = createIdempotency({
  store: createRedisStore({ client: nodeRedis }),
  retentionMs: RETENTION_MS,
  keyPrefix: `idem:${RUN_ID}:run-node-redis:`,
});
app.post("/idemkit-run-node-redis", async (req, res) => {
  const key = req.get("idempotency-key");
  if (!key) return void res.status(400).json({ error: "Idempotency-Key required" });
  try {
    const input = { method: req.method, path: req.path, body: req.body };
    res.status(201).json(await runOnNodeRedis.run({ key, input }, () => createOrder(req.body)));
  } catch (error) {
    res.status(409).json({ error: (error as Error).name });
  }
});

// Reference: core's run() inside a plain route.
app.post("/idemkit-run", async (req, res) => {
  const { status, body } = await runReference(req.get("idempotency-key"), req.method, req.path, req.body);
  res.status(status).json(body);
});

// Powertools: no HTTP integration outside Lambda (its middleware is for Middy); the route wraps its
// work in makeIdempotent, keyed by the Idempotency-Key header. No payload validation: its cache layer drops the
// validation hash on completion, so every replay would fail validation.
const redisClient = await createClient({ url: REDIS }).connect();
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
    keyPrefix: `bench-${RUN_ID}-http-pt`,
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
const storage = new RedisStorageAdapter({ url: REDIS });
await storage.connect();
const ni = new nodeIdempotency.Idempotency(storage, {
  cacheKeyPrefix: `bench:${RUN_ID}:http-ni`,
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

listen(createServer(app), () =>
  Promise.allSettled([redisClient.quit(), nodeRedis.quit(), storage.disconnect(), onNodeRedis4.quit()]),
);
