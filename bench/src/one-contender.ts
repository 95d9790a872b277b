/**
 * One contender on Redis in a closed loop, for paired runs of two builds (see README, "Paired runs"):
 * `node --import tsx src/one-contender.ts <idemkit|baseline> <in flight> <ms> <new|replay>` prints
 * req/s, this process's CPU µs per request and p50. Keys go to database 9 with the run's tag.
 */
import { Redis } from "ioredis";
import { redisBaseline, redisIdemkit } from "./contenders/redis.js";
import { closedLoop } from "./loop.js";
import { inputOf } from "./scenarios.js";

const [which = "idemkit", inFlight = "1", ms = "3000", scenario = "new"] = process.argv.slice(2);
const client = new Redis(process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379/9");
const contender = which === "baseline" ? redisBaseline(client) : redisIdemkit(client);
const tag = `one:${Date.now()}`;
const REPLAY_KEYS = 1000;

const run = (key: string) => contender.run(key, inputOf(key), async () => ({ id: key, status: "created" }));
const keyOf = (i: number) => (scenario === "replay" ? `${tag}:r${i % REPLAY_KEYS}` : `${tag}:${i}`);
if (scenario === "replay") for (let i = 0; i < REPLAY_KEYS; i++) await run(keyOf(i));

const loop = (durationMs: number, offset: number) =>
  closedLoop({
    concurrency: Number(inFlight),
    durationMs,
    maxOps: 1e9,
    op: async (i) => void (await run(keyOf(i + offset))),
  });
await loop(500, 1e8); // warm-up
const r = await loop(Number(ms), 0);
console.log(
  `${which} ${scenario} ${inFlight} ${Math.round(r.throughput)} req/s ${r.cpuUsPerRequest.toFixed(1)} cpu-us/req ` +
    `${r.p50Ms.toFixed(3)} p50-ms ${r.errors} errors`,
);
await client.quit();
