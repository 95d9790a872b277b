import { rmSync } from "node:fs";
import { dirname } from "node:path";
import { createClient, type RedisClientType } from "@redis/client";
import { Redis } from "ioredis";
import pg from "pg";
import { memoryBaseline, memoryIdemkit } from "./contenders/memory.js";
import { nodeRedisBaseline, nodeRedisIdemkit } from "./contenders/node-redis.js";
import { nodeIdempotencyRedis, powertools } from "./contenders/peers.js";
import { postgresBaseline, postgresIdemkit } from "./contenders/postgres.js";
import { redisBaseline, redisIdemkit } from "./contenders/redis.js";
import { benchDatabase, countStatements, sqliteBaseline, sqliteIdemkit } from "./contenders/sqlite.js";
import type { Contender, StoreName } from "./contenders/types.js";
import type { Counter } from "./counts.js";
import { setupDynamodb } from "./setup-dynamodb.js";
import { setupMysql } from "./setup-mysql.js";

/** Redis database the bench writes to (keys carry the run id and are removed afterwards). */
export const REDIS_URL =
  process.env.BENCH_REDIS_URL ?? `${process.env.REDIS_URL ?? "redis://127.0.0.1:6379"}/9`;
export const DATABASE_URL = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/** The contenders of one store on one shared client, plus what the report needs to count with. */
export interface StoreSetup {
  store: StoreName;
  contenders: Contender[];
  /** Extra contenders that only run the duplicate-burst check. */
  burstOnly: Contender[];
  redis?: Redis;
  counter?: Counter;
  counterSource?: string;
  version?: string;
  /** The most requests in flight this store is measured at, and why (an emulator's own limit). */
  maxConcurrency?: { limit: number; reason: string };
  /**
   * The most keys prepared for one measurement (stored outcomes, abandoned claims) when the store is too
   * slow to prepare thousands: replays reuse them; a takeover loop ends when they run out.
   */
  maxPreparedKeys?: number;
  teardown(): Promise<void>;
}

export async function setupStore(store: StoreName, runId: string): Promise<StoreSetup | string> {
  switch (store) {
    case "memory":
      return {
        store,
        contenders: [memoryIdemkit(), memoryBaseline()],
        burstOnly: [],
        teardown: async () => {},
      };
    case "sqlite": {
      const counter: Counter = { count: 0 };
      const open = () => {
        const db = benchDatabase();
        countStatements(db, counter);
        return db;
      };
      const idemkitDb = open();
      const baselineDb = open();
      const version = (idemkitDb.prepare("SELECT sqlite_version() AS v").get() as { v: string }).v;
      return {
        store,
        contenders: [sqliteIdemkit(idemkitDb), sqliteBaseline(baselineDb)],
        burstOnly: [],
        counter,
        counterSource:
          "statements run, counted on each prepared statement (statements, not network round trips)",
        version: `SQLite ${version} (better-sqlite3, WAL, one connection and one file per contender)`,
        teardown: async () => {
          idemkitDb.close();
          baselineDb.close();
          for (const db of [idemkitDb, baselineDb])
            rmSync(dirname(db.name), { recursive: true, force: true });
        },
      };
    }
    case "redis": {
      const client = new Redis(REDIS_URL, {
        lazyConnect: true,
        maxRetriesPerRequest: 1,
        connectTimeout: 2000,
      });
      try {
        await client.connect();
        await client.ping();
      } catch (error) {
        client.disconnect();
        return `Redis unreachable at ${REDIS_URL}: ${(error as Error).message}`;
      }
      const info = (await client.info("server")) as string;
      const version = /redis_version:(\S+)/.exec(info)?.[1] ?? "?";
      const peers = await startPeers([
        ["powertools", () => powertools(REDIS_URL, `bench-${runId}-pt`, 30_000)],
        ["node-idempotency", () => nodeIdempotencyRedis(REDIS_URL, `bench:${runId}:ni`)],
      ]);
      const burstOnly: Contender[] = [];
      try {
        burstOnly.push(await powertools(REDIS_URL, `bench-${runId}-ptn`, undefined));
      } catch {}
      return {
        store,
        contenders: [redisIdemkit(client), redisBaseline(client), ...peers],
        burstOnly,
        redis: client,
        version: `Redis ${version}`,
        teardown: async () => {
          for (const c of [...peers, ...burstOnly]) await c.close();
          await deleteKeys(client, `*${runId}*`);
          client.disconnect();
        },
      };
    }
    case "node-redis": {
      // The contenders share one node-redis client (RESP3, its default); an ioredis client beside it
      // reads INFO commandstats for the counts and removes the run's keys.
      const admin = new Redis(REDIS_URL, {
        lazyConnect: true,
        maxRetriesPerRequest: 1,
        connectTimeout: 2000,
      });
      const client = nodeRedisClient(REDIS_URL);
      try {
        await admin.connect();
        await client.connect();
      } catch (error) {
        admin.disconnect();
        client.destroy();
        return `Redis unreachable at ${REDIS_URL}: ${(error as Error).message}`;
      }
      const version = /redis_version:(\S+)/.exec(await admin.info("server"))?.[1] ?? "?";
      const typed = client as unknown as RedisClientType;
      // node-idempotency's Redis adapter is on node-redis too (4, a client of its own).
      const peers = await startPeers([
        ["node-idempotency", () => nodeIdempotencyRedis(REDIS_URL, `bench:${runId}:ni`)],
      ]);
      return {
        store,
        contenders: [nodeRedisIdemkit(typed), nodeRedisBaseline(typed), ...peers],
        burstOnly: [],
        redis: admin,
        version: `Redis ${version} through node-redis 6 (RESP3; the contenders' one client with --contenders-together)`,
        teardown: async () => {
          for (const c of peers) await c.close();
          await deleteKeys(admin, `*${runId}*`);
          client.destroy();
          admin.disconnect();
        },
      };
    }
    case "postgres": {
      const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 16, connectionTimeoutMillis: 2000 });
      pool.on("error", () => {});
      let version: string;
      try {
        version = (await pool.query("SHOW server_version")).rows[0].server_version;
      } catch (error) {
        await pool.end().catch(() => {});
        return `PostgreSQL unreachable at ${DATABASE_URL}: ${(error as Error).message}`;
      }
      const counter: Counter = { count: 0 };
      const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
      // Count every statement the contenders send (each `query` is one round trip).
      (pool as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
        counter.count++;
        return query(...args);
      };
      const table = `bench_${runId.replace(/\W/g, "_")}`;
      const contenders = [
        await postgresIdemkit(pool, `${table}_idem`),
        await postgresBaseline(pool, `${table}_bl`),
      ];
      return {
        store,
        contenders,
        burstOnly: [],
        counter,
        counterSource:
          "a counting wrapper on pg Pool.query (pg_stat_statements is not loaded on this server)",
        version: `PostgreSQL ${version} (pg Pool, max 16)`,
        teardown: async () => {
          for (const c of contenders) await c.close();
          await pool.end();
        },
      };
    }
    case "mysql":
      return setupMysql(runId);
    case "dynamodb":
      return setupDynamodb(runId);
  }
}

/**
 * The bench's node-redis client, not yet connected, with the options the store's README recommends: no
 * per-command timer (the store bounds every call), no offline queue.
 */
export function nodeRedisClient(url: string) {
  const client = createClient({
    url,
    socket: { connectTimeout: 2000, reconnectStrategy: false },
    disableOfflineQueue: true,
    commandOptions: { timeout: 0 },
  });
  client.on("error", () => {});
  return client;
}

/** Redis's own CPU time so far (user + system, all its threads), µs: server-wide. */
export async function redisCpuUs(client: Redis): Promise<number> {
  const info = await client.info("cpu");
  const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? Number.NaN);
  return (field("used_cpu_user") + field("used_cpu_sys")) * 1e6;
}

/**
 * Removes the keys matching `pattern` (SCAN, then UNLINK), as every run cleans up after itself. Names
 * as bytes: an outcome kept aside is named with a 0xff byte, which a name read as text would not spell.
 */
export async function deleteKeys(client: Redis, pattern: string): Promise<void> {
  let cursor = "0";
  for (let i = 0; i < 100_000; i++) {
    const [next, keys] = await client.scanBuffer(cursor, "MATCH", pattern, "COUNT", 1000);
    if (keys.length > 0) await client.unlink(...keys);
    cursor = next.toString();
    if (cursor === "0") return;
  }
}

/** The peers that start, in order; those that cannot are named on the console and left out. */
async function startPeers(makers: [name: string, make: () => Promise<Contender>][]): Promise<Contender[]> {
  const peers: Contender[] = [];
  const failures: string[] = [];
  for (const [name, make] of makers) {
    try {
      peers.push(await make());
    } catch (error) {
      failures.push(`${name}: ${(error as Error).message}`);
    }
  }
  if (failures.length > 0) console.log(`  peers that could not start: ${failures.join("; ")}`);
  return peers;
}
