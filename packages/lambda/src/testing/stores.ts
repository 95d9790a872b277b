// Test support, neither built nor published: the stores every suite runs on (memory, SQLite, Redis),
// and a store that is down. Redis is skipped, visibly, when it does not answer, unless IDEMKIT_REQUIRE
// names it.
import { randomUUID } from "node:crypto";
import { skipUnlessAvailable } from "@idemkit/conformance";
import { createMemoryStore, type IdempotencyStore } from "@idemkit/core";
import { createRedisStore } from "@idemkit/redis";
import { createSqliteStore } from "@idemkit/sqlite";
import { Redis } from "ioredis";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

/** Why Redis cannot be used, or `undefined` when it answers. */
async function probeRedis(): Promise<string | undefined> {
  const client = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 1000, retryStrategy: () => null });
  let lastError: Error | undefined;
  client.on("error", (error) => {
    lastError = error;
  });
  try {
    await client.connect();
    await client.ping();
    return undefined;
  } catch (error) {
    return `no Redis at ${REDIS_URL} (${(lastError ?? (error as Error)).message}); start one or set REDIS_URL`;
  } finally {
    client.disconnect();
  }
}

export interface TestStore {
  name: string;
  /** Why this store's tests are skipped, or `false`. */
  skip: string | false;
  /** A store for one test; `close` when done. */
  open(): { store: IdempotencyStore; close(): Promise<void> };
}

export async function testStores(): Promise<TestStore[]> {
  const redisSkip = skipUnlessAvailable("redis", await probeRedis());
  return [
    {
      name: "memory",
      skip: false,
      open: () => ({ store: createMemoryStore(), close: async () => {} }),
    },
    {
      name: "sqlite",
      skip: false,
      open: () => {
        const store = createSqliteStore({ database: ":memory:" });
        return { store, close: () => store.close() };
      },
    },
    {
      name: "redis",
      skip: redisSkip,
      open: () => {
        const client = new Redis(REDIS_URL, { lazyConnect: false });
        const store = createRedisStore({ client, prefix: `idemkit-lambda-test:${randomUUID()}:` });
        return { store, close: async () => void (await client.quit()) };
      },
    },
  ];
}

/** A store whose every call fails, as one that cannot be reached. */
export function unreachableStore(): IdempotencyStore {
  const down = () => Promise.reject(new Error("connect ECONNREFUSED 127.0.0.1:6379"));
  return { claim: down, complete: down, release: down, extend: down, get: down, delete: down };
}
