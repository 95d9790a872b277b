/**
 * One contender in a closed loop, in a process of its own, for paired runs of two builds (see README,
 * "Paired runs"): `node --import tsx src/one-contender.ts <idemkit|baseline> <in flight> <ms>
 * <new|replay|takeover> [outcome bytes]` prints req/s, this process's CPU µs per request and p50.
 * The store is `BENCH_STORE`: redis (default; keys in database 9 with the run's tag), node-redis (the
 * same on a node-redis client), sqlite (a fresh
 * file), postgres (tables of this process, dropped at the end) or noop (a store that answers every
 * call at once, acquired and stored, and a stored key's claim with its record: the engine's own cost;
 * its baseline calls the work directly).
 * `WARM_MS` sets the unrecorded warm-up on new keys (default 500).
 */
import type { RedisClientType } from "@redis/client";
import { Redis } from "ioredis";
import pg from "pg";
import { idemkitContender } from "./contenders/idemkit.js";
import { nodeRedisBaseline, nodeRedisIdemkit } from "./contenders/node-redis.js";
import { answersAtOnce, noopBaseline } from "./contenders/noop.js";
import { postgresBaseline, postgresIdemkit } from "./contenders/postgres.js";
import { redisBaseline, redisIdemkit } from "./contenders/redis.js";
import { benchDatabase, sqliteBaseline, sqliteIdemkit } from "./contenders/sqlite.js";
import { type Contender, TAKEOVER_LEASE_MS } from "./contenders/types.js";
import { closedLoop } from "./loop.js";
import { inputOf, outcomeOf } from "./scenarios.js";
import { nodeRedisClient } from "./setup.js";

const [which = "idemkit", inFlight = "1", ms = "3000", scenario = "new", bytes = "0"] = process.argv.slice(2);
const store = process.env.BENCH_STORE ?? "redis";
const baseline = which === "baseline";
const tag = `one:${Date.now()}`;
const PREPARED_KEYS = scenario === "takeover" ? 60_000 : 1000;

const contender = await open();
const run = (key: string) => contender.run(key, inputOf(key), async () => outcomeOf(key, Number(bytes)));
const keyOf = (i: number) =>
  scenario === "new" ? `${tag}:${i}` : `${tag}:p${scenario === "takeover" ? i : i % PREPARED_KEYS}`;
for (let i = 0; i < PREPARED_KEYS && scenario !== "new"; i++) {
  const key = keyOf(i);
  await (scenario === "takeover" ? contender.abandon?.(key, inputOf(key)) : run(key));
}
if (scenario === "takeover") await new Promise((resolve) => setTimeout(resolve, TAKEOVER_LEASE_MS + 60));

const loop = (durationMs: number, offset: number, maxOps = 1e9) =>
  closedLoop({
    concurrency: Number(inFlight),
    durationMs,
    maxOps,
    op: async (i) => void (await run(keyOf(i + offset))),
  });
// Warm-up on keys of their own (new keys; for takeovers, the last tenth of the abandoned ones).
if (scenario === "takeover") await loop(500, PREPARED_KEYS * 0.9, PREPARED_KEYS / 10);
else await loop(warmMs(), 1e8);
const r = await loop(Number(ms), 0, scenario === "takeover" ? PREPARED_KEYS * 0.9 : 1e9);
console.log(
  `${which} ${scenario} ${inFlight} ${Math.round(r.throughput)} req/s ${r.cpuUsPerRequest.toFixed(1)} cpu-us/req ` +
    `${r.p50Ms.toFixed(3)} p50-ms ${r.errors} errors`,
);
await contender.close();
process.exit(0);

function warmMs(): number {
  const ms = Number(process.env.WARM_MS ?? 500);
  if (!Number.isSafeInteger(ms) || ms < 0 || process.env.WARM_MS === "")
    throw new Error(`WARM_MS: whole milliseconds, got ${JSON.stringify(process.env.WARM_MS)}`);
  return ms;
}

async function open(): Promise<Contender> {
  switch (store) {
    case "redis": {
      const client = new Redis(process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379/9");
      const opened = baseline ? redisBaseline(client) : redisIdemkit(client);
      return { ...opened, close: async () => void (await client.quit()) };
    }
    case "node-redis": {
      const url = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379/9";
      const client = (await nodeRedisClient(url).connect()) as unknown as RedisClientType;
      const opened = baseline ? nodeRedisBaseline(client) : nodeRedisIdemkit(client);
      return { ...opened, close: async () => void client.destroy() };
    }
    case "sqlite": {
      const db = benchDatabase();
      return baseline ? sqliteBaseline(db) : sqliteIdemkit(db);
    }
    case "postgres": {
      const url = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
      const pool = new pg.Pool({ connectionString: url, max: 16 });
      const table = `bench_one_${process.pid}`;
      const opened = await (baseline ? postgresBaseline(pool, table) : postgresIdemkit(pool, table));
      const close = async () => {
        await opened.close();
        await pool.end();
      };
      return { ...opened, close };
    }
    case "noop":
      return baseline ? noopBaseline() : idemkitContender("memory", answersAtOnce(scenario === "replay"));
    default:
      throw new Error(`BENCH_STORE: unknown ${store} (redis, node-redis, sqlite, postgres, noop)`);
  }
}
