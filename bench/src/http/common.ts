/**
 * What the HTTP bench servers (`server-<framework>.ts`, each run as a child process by `run.ts`)
 * share: the order work behind every route, the Redis-backed idemkit instances, the `idemkit-run`
 * reference, the `/__cpu` reading and the listen/stop boilerplate.
 */
import { randomUUID } from "node:crypto";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { PerformanceObserver } from "node:perf_hooks";
import { createIdempotency, type Idempotency } from "@idemkit/core";
import { createRedisStore } from "@idemkit/redis";
import { Redis } from "ioredis";

export const [REDIS = "redis://127.0.0.1:6379/9", RUN_ID = "http"] = process.argv.slice(2);
export const RETENTION_MS = 600_000;

export interface Order {
  amount: number;
  currency: string;
}

/** The route's own work, the same behind every route of every framework. */
export const createOrder = (order: Order) => ({ id: randomUUID(), status: "created", ...order });

// Every garbage collection's pause, summed since the server started (µs).
let gcUs = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcUs += entry.duration * 1000;
}).observe({ entryTypes: ["gc"] });

/**
 * The server's own CPU time (all threads, µs) and the part of it spent in collections' pauses: the
 * runner reads them around each load, for CPU and collection per request.
 */
export const cpuReading = () => {
  const { user, system } = process.cpuUsage();
  return { cpuUs: user + system, gcUs };
};

/** One ioredis client for both idemkit instances. */
export const ioredis = new Redis(REDIS);

/** idemkit behind the framework's own integration (middleware, plugin, listener). */
export const idem: Idempotency = createIdempotency({
  store: createRedisStore({ client: ioredis }),
  retentionMs: RETENTION_MS,
  keyPrefix: `idem:${RUN_ID}:`,
});

const idemRun = createIdempotency({
  store: createRedisStore({ client: ioredis }),
  retentionMs: RETENTION_MS,
  keyPrefix: `idem:${RUN_ID}:run:`,
});

/**
 * Reference, not a contender: the same claim/complete through core's `run()`, called inside a plain
 * route (no HTTP layer, no Web objects): what idemkit's engine and store cost on their own, so the
 * HTTP layer's share of idemkit's cost can be read off. The route writes the status and body.
 */
export async function runReference(
  key: string | undefined,
  method: string,
  path: string,
  body: Order,
): Promise<{ status: number; body: unknown }> {
  if (!key) return { status: 400, body: { error: "Idempotency-Key required" } };
  try {
    const value = await idemRun.run({ key, input: { method, path, body } }, () => createOrder(body));
    return { status: 201, body: value };
  } catch (error) {
    return { status: 409, body: { error: (error as Error).name } };
  }
}

/** A header's single value (node:http gives `string | string[] | undefined`). */
export const headerValue = (value: string | string[] | undefined) =>
  Array.isArray(value) ? value[0] : value;

/**
 * Listens on a loopback port, prints `listening <port>` (the runner waits for it), and on SIGTERM /
 * SIGINT closes the server, its connections, Redis and whatever `close` adds, then exits.
 */
export function listen(server: Server, close: () => Promise<unknown> = async () => {}): void {
  server.listen(0, "127.0.0.1", () => {
    console.log(`listening ${(server.address() as AddressInfo).port}`);
  });
  const stop = () => {
    server.close();
    server.closeAllConnections();
    ioredis.disconnect();
    void Promise.allSettled([close()]).then(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}
