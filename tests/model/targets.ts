// The real stores the model-based and interleaving tests run against, each with a visible skip
// (or a failure under IDEMKIT_REQUIRE) when its server is not reachable.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { skipUnlessAvailable } from "@idemkit/conformance";
import { createMemoryStore, type IdempotencyStore } from "@idemkit/core";
import { createDynamoDbStore, ensureTable } from "@idemkit/dynamodb";
import { createMongoStore } from "@idemkit/mongodb";
import { createMySqlStore, migrate as migrateMySql, quoteIdentifier as quoteMySql } from "@idemkit/mysql";
import { createPostgresStore, migrate, quoteIdentifier } from "@idemkit/postgres";
import { createRedisStore } from "@idemkit/redis";
import { createSqliteStore } from "@idemkit/sqlite";
import { Redis } from "ioredis";
import { MongoClient } from "mongodb";
import mysql from "mysql2/promise";
import pg from "pg";

export const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
export const databaseUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
export const mongoUrl = process.env.MONGODB_URL ?? "mongodb://127.0.0.1:27017";
/** scripts/mariadb.sh starts a MariaDB here. */
export const mysqlUrl = process.env.MYSQL_URL ?? "mysql://root@127.0.0.1:3307/test";

/** A clock the test controls (embedded stores), or the real one (server clocks). */
export interface Clock {
  /** `true` when `now` is exact and `advance` is instant: the model judges deadlines exactly. */
  readonly virtual: boolean;
  now(): number;
  advance(ms: number): Promise<void>;
}

export function virtualClock(start = 1_700_000_000_000): Clock & { t: number } {
  const clock = {
    virtual: true as const,
    t: start,
    now: () => clock.t,
    advance: async (ms: number) => {
      clock.t += ms;
    },
  };
  return clock;
}

export const realClock: Clock = {
  virtual: false,
  now: () => Date.now(),
  advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export interface Target {
  name: string;
  /** `false` to run, or the visible reason the target is skipped. */
  skip: string | false;
  /** Deadlines judged by a clock the test injects (memory, SQLite) or by the server's own. */
  clock: "injected" | "server";
  /**
   * Opens the store (one connection or pool). With an injected clock, `now` is the store's clock.
   * `purge` runs the store's cleanup of records past keep-until now, where it can be triggered.
   */
  open(now?: () => number): Promise<{
    store: IdempotencyStore;
    close(): Promise<void>;
    purge?: () => Promise<void>;
  }>;
}

async function probe(label: string, fn: () => Promise<void>): Promise<string | undefined> {
  try {
    await fn();
    return undefined;
  } catch (error) {
    return `${label} (${error instanceof Error ? error.message : String(error)})`;
  }
}

const hidePassword = (url: string) => url.replace(/\/\/[^@/]*@/, "//***@");

const redisProblem = await probe(`Redis is not reachable at ${hidePassword(redisUrl)}`, async () => {
  const client = new Redis(redisUrl, { lazyConnect: true, connectTimeout: 2000, retryStrategy: () => null });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.ping();
  } finally {
    client.disconnect();
  }
});

const postgresProblem = await probe(
  `PostgreSQL is not reachable at ${hidePassword(databaseUrl)}`,
  async () => {
    const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 3000 });
    try {
      await client.connect();
      await client.query("SELECT 1");
    } finally {
      await client.end().catch(() => {});
    }
  },
);

const mongoProblem = await probe(`MongoDB is not reachable at ${hidePassword(mongoUrl)}`, async () => {
  const client = new MongoClient(mongoUrl, { serverSelectionTimeoutMS: 1500 });
  try {
    await client.connect();
    await client.db("admin").command({ ping: 1 });
  } finally {
    await client.close().catch(() => {});
  }
});

const mysqlProblem = await probe(`MySQL/MariaDB is not reachable at ${hidePassword(mysqlUrl)}`, async () => {
  const connection = await mysql.createConnection({ uri: mysqlUrl, connectTimeout: 3000 });
  try {
    await connection.query("SELECT 1");
  } finally {
    await connection.end().catch(() => {});
  }
});

export const redisSkip = skipUnlessAvailable("redis", redisProblem);
export const postgresSkip = skipUnlessAvailable("postgres", postgresProblem);
export const mongoSkip = skipUnlessAvailable("mongodb", mongoProblem);
export const mysqlSkip = skipUnlessAvailable("mysql", mysqlProblem);

export const targets: Target[] = [
  {
    name: "memory",
    skip: false,
    clock: "injected",
    async open(now) {
      const store = createMemoryStore({ now });
      const sweeper = { token: "sweeper", fingerprint: "", leaseMs: 1, retentionMs: 0 };
      return {
        store,
        close: async () => {},
        // The store sweeps a few entries per claim: claims of a key of its own go round the map.
        purge: async () => {
          for (let i = 0, n = store.size(); i <= n; i++) await store.claim("model-sweeper", sweeper);
        },
      };
    },
  },
  {
    name: "sqlite",
    skip: false,
    clock: "injected",
    async open(now) {
      const dir = mkdtempSync(join(tmpdir(), "idemkit-model-"));
      const store = createSqliteStore({ database: join(dir, "keys.db"), now });
      return {
        store,
        close: async () => {
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        },
        purge: async () => {
          await store.purgeExpired();
        },
      };
    },
  },
  {
    // DynamoDB has no clock of its own: the store judges by the app's (injected here). dynalite, an
    // implementation of its API in memory, runs in this process on a loopback port.
    name: "dynamodb",
    skip: false,
    clock: "injected",
    async open(now) {
      const dynalite = createRequire(import.meta.url)("dynalite") as (options: object) => Server;
      const server = dynalite({ createTableMs: 0, deleteTableMs: 0 });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const client = new DynamoDBClient({
        endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        region: "us-east-1",
        credentials: { accessKeyId: "model", secretAccessKey: "model" },
      });
      const table = "idemkit-model";
      await ensureTable(client, { table, timeToLive: false });
      return {
        // The model's deadlines are exact: no tolerance for skew between app servers.
        store: createDynamoDbStore({ client, table, now, clockToleranceMs: 0 }),
        async close() {
          client.destroy();
          await new Promise<void>((resolve) => server.close(() => resolve()));
        },
      };
    },
  },
  {
    name: "redis",
    skip: redisSkip,
    clock: "server",
    async open() {
      const client = new Redis(redisUrl, { lazyConnect: true });
      client.on("error", () => {});
      await client.connect();
      const prefix = `idemkit-model:${randomBytes(4).toString("hex")}:`;
      return {
        store: createRedisStore({ client, prefix }),
        async close() {
          // Only this run's keys: the shared server is never flushed.
          const keys = await client.keys(`${prefix}*`);
          if (keys.length > 0) await client.del(...keys);
          client.disconnect();
        },
      };
    },
  },
  {
    name: "postgres",
    skip: postgresSkip,
    clock: "server",
    async open() {
      const schema = `idemkit_model_${randomBytes(4).toString("hex")}`;
      const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
      pool.on("error", () => {});
      await migrate(pool, { schema });
      const store = createPostgresStore({ pool, schema });
      return {
        store,
        purge: async () => {
          await store.purgeExpired({ limit: 100_000 });
        },
        async close() {
          await pool.query(`DROP SCHEMA IF EXISTS ${quoteIdentifier(schema)} CASCADE`);
          await pool.end();
        },
      };
    },
  },
  {
    name: "mysql",
    skip: mysqlSkip,
    clock: "server",
    async open() {
      const table = `idemkit_model_${randomBytes(4).toString("hex")}`;
      const pool = mysql.createPool({ uri: mysqlUrl, connectionLimit: 4 });
      await migrateMySql(pool, { table });
      const store = createMySqlStore({ pool, table });
      return {
        store,
        purge: async () => {
          await store.purgeExpired({ limit: 100_000 });
        },
        async close() {
          await pool.query(`DROP TABLE IF EXISTS ${quoteMySql(table)}`);
          await pool.end();
        },
      };
    },
  },
  {
    name: "mongodb",
    skip: mongoSkip,
    clock: "server",
    async open() {
      const client = new MongoClient(mongoUrl);
      await client.connect();
      const collectionName = `idemkit_model_${randomBytes(4).toString("hex")}`;
      const db = client.db("idemkit_tests");
      return {
        store: createMongoStore({ db, collectionName }),
        async close() {
          await db
            .collection(collectionName)
            .drop()
            .catch(() => {});
          await client.close();
        },
      };
    },
  },
];

/** The title of a describe block, showing why it is skipped. */
export const titled = (target: Target, what: string) =>
  target.skip ? `${what} on ${target.name} (skipped: ${target.skip})` : `${what} on ${target.name}`;
