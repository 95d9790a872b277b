/**
 * Two builds of idemkit and the hand-written baseline in one process, on Redis, taking turns in short
 * slices: `node --import tsx src/pair-in-process.ts <other checkout> [in flight] [seconds]
 * [new|replay|burst] [outcome bytes] [sliceMs]` (`burst`: that many concurrent duplicates of one new key
 * at a time, the first working 1 ms of real time, as the bench's). For machines whose speed swings within
 * seconds, where runs one after another (`pair.sh`) measure the machine as much as the build. Each
 * contender has its own ioredis client; prints each one's req/s, its CPU µs per request and Redis's (`INFO
 * cpu`), summed over its slices, and new ÷ old. With `BENCH_STORE=sqlite` each has a SQLite file of its
 * own instead (WAL, as the bench's), with `BENCH_STORE=postgres` a table and pg Pool of its own (dropped at
 * the end), with `BENCH_STORE=noop` a store of its own that answers at once (`contenders/noop.ts`: the
 * engine's own cost; the baseline calls the work); the Redis column then reads 0. The other checkout
 * must be built (`pnpm build`); give this one to compare idemkit and the baseline alone.
 */
import type { IdempotencyStore } from "@idemkit/core";
import * as newCore from "@idemkit/core";
import * as newPostgres from "@idemkit/postgres";
import * as newRedis from "@idemkit/redis";
import * as newSqlite from "@idemkit/sqlite";
import { Redis } from "ioredis";
import pg from "pg";
import { asInFlight } from "./contenders/idemkit.js";
import { answersAtOnce, noopBaseline } from "./contenders/noop.js";
import { dropIdemkitTable, postgresBaseline } from "./contenders/postgres.js";
import { redisBaseline } from "./contenders/redis.js";
import { benchDatabase, sqliteBaseline } from "./contenders/sqlite.js";
import { packageOf } from "./other-build.js";
import { expectOneRun, inputOf, outcomeOf, runBurst } from "./scenarios.js";
import { REDIS_URL, redisCpuUs } from "./setup.js";

const [other, inFlight = "16", seconds = "12", scenario = "new", bytes = "0", sliceMs = "100"] =
  process.argv.slice(2);
if (!other)
  throw new Error("usage: pair-in-process.ts <other checkout> [in flight] [seconds] [new|replay] [bytes]");
const load = (pkg: string) => packageOf(other, pkg);
const oldCore = (await load("core")) as typeof newCore;
const oldRedis = (await load("redis")) as typeof newRedis;
const oldSqlite = (await load("sqlite")) as typeof newSqlite;
const oldPostgres = (await load("postgres")) as typeof newPostgres;
const sqlite = process.env.BENCH_STORE === "sqlite";
const postgres = process.env.BENCH_STORE === "postgres";
const noop = process.env.BENCH_STORE === "noop";

type Run = (key: string, work?: () => Promise<unknown>) => Promise<unknown>;
const clients: Redis[] = [];
const client = () => {
  const c = new Redis(REDIS_URL);
  clients.push(c);
  return c;
};
const tag = `pip:${Date.now()}`;
const pools: [pg.Pool, string][] = [];
/** A pg Pool and a table name of a contender's own, both dropped at the end. */
const table = (prefix: string) => {
  const pool = new pg.Pool({
    connectionString: process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test",
    max: Math.min(Number(inFlight), 16),
  });
  const name = `pip_${process.pid}_${prefix}`;
  pools.push([pool, name]);
  return { pool, table: name };
};
const work = (key: string) => async () => outcomeOf(key, Number(bytes));
async function idemkit(
  core: typeof newCore,
  redis: typeof newRedis,
  sqliteStore: typeof newSqlite,
  postgresStore: typeof newPostgres,
  prefix: string,
): Promise<Run> {
  let store: IdempotencyStore;
  if (noop) store = answersAtOnce(scenario === "replay");
  else if (sqlite) store = sqliteStore.createSqliteStore({ database: benchDatabase() });
  else if (postgres) {
    const own = table(prefix);
    await postgresStore.migrate(own.pool, own);
    store = postgresStore.createPostgresStore(own);
  } else store = redis.createRedisStore({ client: client() as never });
  const idem = core.createIdempotency({ store, retentionMs: 600_000, keyPrefix: `${tag}:${prefix}:` });
  return async (key, w = work(key)) => {
    try {
      return (await idem.execute({ key, input: inputOf(key) }, w)).value;
    } catch (error) {
      // As the bench's contender does, so a conflict costs what the baseline's does.
      throw asInFlight(error, key);
    }
  };
}
const baseTable = postgres ? table("baseline") : undefined;
const base = noop
  ? noopBaseline()
  : sqlite
    ? sqliteBaseline(benchDatabase())
    : baseTable
      ? await postgresBaseline(baseTable.pool, baseTable.table)
      : redisBaseline(client());
const admin = client();
/** Redis's own CPU time so far, µs (0 on the other stores). */
const redisCpuNow = async () => (sqlite || postgres || noop ? 0 : redisCpuUs(admin));
const contenders: [string, Run][] = [
  ["baseline", (key, w = work(key)) => base.run(`${tag}:${key}`, inputOf(key), w)],
  ["old", await idemkit(oldCore, oldRedis, oldSqlite, oldPostgres, "old")],
  ["new", await idemkit(newCore, newRedis, newSqlite, newPostgres, "new")],
];

let n = 0;
const POOL = 1000;
const keyOf = () => (scenario === "replay" ? `r${n++ % POOL}` : `n${n++}`);
if (scenario === "replay") {
  for (const [, run] of contenders) for (let i = 0; i < POOL; i++) await run(`r${i}`);
}
const totals = contenders.map(() => ({ requests: 0, cpuUs: 0, redisUs: 0, ms: 0 }));
const rounds = Math.ceil((Number(seconds) * 1000) / Number(sliceMs) / contenders.length);
for (let round = 0; round < rounds + 3; round++) {
  for (let c = 0; c < contenders.length; c++) {
    const run = contenders[c]![1];
    const started = performance.now();
    const end = started + Number(sliceMs);
    let requests = 0;
    const redisBefore = await redisCpuNow();
    const cpu = process.cpuUsage();
    if (scenario === "burst") {
      // `in flight` concurrent duplicates of one fresh key at a time; the duplicates' conflicts count.
      while (performance.now() < end) {
        const key = keyOf();
        // The first works 1 ms of real time, as the bench's burst does; any failure but a conflict stops the run.
        const burst = await runBurst(
          Number(inFlight),
          (w) => run(key, w),
          () => outcomeOf(key, Number(bytes)),
        );
        expectOneRun(burst, contenders[c]![0], key);
        requests += Number(inFlight);
      }
    } else {
      await Promise.all(
        Array.from({ length: Number(inFlight) }, async () => {
          while (performance.now() < end) {
            await run(keyOf());
            requests++;
          }
        }),
      );
    }
    const used = process.cpuUsage(cpu);
    const redisUsed = (await redisCpuNow()) - redisBefore;
    if (round < 3) continue; // warm-up
    totals[c]!.requests += requests;
    totals[c]!.cpuUs += used.user + used.system;
    totals[c]!.redisUs += redisUsed;
    totals[c]!.ms += performance.now() - started;
  }
}
const rate = (c: number) => (totals[c]!.requests / totals[c]!.ms) * 1000;
const cpu = (c: number) => totals[c]!.cpuUs / totals[c]!.requests;
const redisCpu = (c: number) => totals[c]!.redisUs / totals[c]!.requests;
for (const [c, [name]] of contenders.entries()) {
  console.log(
    `${name.padEnd(8)} ${Math.round(rate(c))} req/s ${cpu(c).toFixed(1)} cpu-µs/req, Redis ${redisCpu(c).toFixed(1)} µs/req`,
  );
}
console.log(
  `${scenario} ${bytes} B, ${inFlight} in flight: new ÷ old req/s ${(rate(2) / rate(1)).toFixed(3)}, ` +
    `CPU ${(cpu(2) / cpu(1)).toFixed(3)}; old ÷ baseline ${(rate(1) / rate(0)).toFixed(3)}, new ÷ baseline ${(rate(2) / rate(0)).toFixed(3)}`,
);
for (const c of clients) {
  const keys = await c.keys(`*${tag}*`).catch(() => []);
  for (let i = 0; i < keys.length; i += 1000) await c.unlink(...keys.slice(i, i + 1000));
  c.disconnect();
}
for (const [pool, name] of pools) {
  await dropIdemkitTable(pool, name);
  await pool.end();
}
process.exit(0);
