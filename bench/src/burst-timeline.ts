/**
 * Where a burst's time goes, contender by contender: `node --import tsx src/burst-timeline.ts
 * [duplicates] [rounds] [real|timer|answered]` runs the bench's burst (that many concurrent duplicates of
 * one new key) on Redis for idemkit and the baseline on ioredis and on node-redis, and node-idempotency (its
 * own node-redis 4 client), in turns of 250 ms. Each ioredis contender has a client of its own; idemkit
 * and the baseline share one node-redis client (the bench shares one client between the two). It prints,
 * over the bursts, the median and quartiles of the whole burst and of the work, the share of works that
 * lasted under 1 ms, and the medians of start → work and work → end.
 *
 * The work: `real` (the default, the bench's since the sixteenth round) 1 ms of real time (`sleepReally`);
 * `timer` one `setTimeout(…, 1)`, the bench's before, which lasts a fraction of a millisecond to ~1.3 ms by
 * where in a millisecond it was armed and whether the loop is awake; `answered` no time of its own, held
 * until the duplicates have all been answered (`untilAnswered`: how fast a library turns them away).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { createClient, type RedisClientType } from "@redis/client";
import { Redis } from "ioredis";
import { nodeRedisBaseline, nodeRedisIdemkit } from "./contenders/node-redis.js";
import { nodeIdempotencyRedis } from "./contenders/peers.js";
import { redisBaseline, redisIdemkit } from "./contenders/redis.js";
import type { Contender } from "./contenders/types.js";
import {
  type BurstWork,
  expectOneRun,
  inputOf,
  oneMillisecond,
  outcomeOf,
  runBurst,
  untilAnswered,
} from "./scenarios.js";
import { deleteKeys, REDIS_URL } from "./setup.js";
import { median, quantile } from "./stats.js";

const duplicates = Number(process.argv[2] ?? 16);
const rounds = Number(process.argv[3] ?? 40);
const mode = process.argv[4] ?? "real";
const WORKS: Record<string, [BurstWork, string]> = {
  real: [oneMillisecond, "1 ms of real time as work"],
  timer: [() => sleep(1), "a 1 ms timer as work"],
  answered: [untilAnswered, "the work held until the duplicates are answered"],
};
if (!(mode in WORKS))
  throw new Error(`usage: burst-timeline.ts [duplicates] [rounds] [${Object.keys(WORKS).join("|")}]`);
const [hold, described] = WORKS[mode]!;
/** Rounds not counted: each contender's code is compiled and its connections warm before it counts. */
const WARM_ROUNDS = 4;
const TURN_MS = 250;
const tag = `burst-timeline:${Date.now()}`;

/** One burst, checked as the bench checks it: the times of its phases, in ms. */
async function burst(c: Contender, key: string): Promise<[number, number, number, number]> {
  const started = performance.now();
  const run = await runBurst(
    duplicates,
    (work) => c.run(key, inputOf(key), work),
    () => outcomeOf(key, 0),
    hold,
  );
  const ended = performance.now();
  expectOneRun(run, `${c.name} on ${c.store}`, key);
  const { workStarted, workEnded } = run;
  return [ended - started, workStarted - started, workEnded - workStarted, ended - workEnded];
}

const ioredisClients: Redis[] = [];
let nodeRedis: RedisClientType | undefined;
const contenders: Contender[] = [];
try {
  // As setup.ts makes them: a Redis that is down fails the run at once instead of retrying.
  for (let n = 0; n < 2; n++) ioredisClients.push(new Redis(REDIS_URL, { maxRetriesPerRequest: 1 }));
  nodeRedis = createClient({
    url: REDIS_URL,
    socket: { connectTimeout: 2000, reconnectStrategy: false },
    disableOfflineQueue: true,
    commandOptions: { timeout: 0 },
  }) as RedisClientType;
  nodeRedis.on("error", () => {});
  await nodeRedis.connect();
  contenders.push(
    redisIdemkit(ioredisClients[0]!),
    redisBaseline(ioredisClients[1]!),
    nodeRedisIdemkit(nodeRedis),
    nodeRedisBaseline(nodeRedis),
    await nodeIdempotencyRedis(REDIS_URL, `${tag}:ni`),
  );
  /** A contender by name and client: idemkit and the baseline run on both. */
  const label = (c: Contender) =>
    c.name === "node-idempotency"
      ? "node-idempotency (node-redis 4)"
      : `${c.name} (${c.store === "redis" ? "ioredis" : c.store})`;
  const times = new Map(contenders.map((c) => [label(c), [[], [], [], []] as number[][]]));
  let i = 0;
  for (let round = 0; round < rounds + WARM_ROUNDS; round++) {
    for (const c of contenders) {
      const end = performance.now() + TURN_MS;
      while (performance.now() < end) {
        const measured = await burst(c, `${tag}:${i++}`);
        if (round < WARM_ROUNDS) continue;
        const rows = times.get(label(c))!;
        for (const [p, ms] of measured.entries()) rows[p]!.push(ms);
      }
    }
  }
  const spread = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    return `${median(sorted).toFixed(3)} (${quantile(sorted, 0.25).toFixed(3)}–${quantile(sorted, 0.75).toFixed(3)})`;
  };
  console.log(`${duplicates} duplicates a burst, ${described}; ms, median (quartiles)`);
  console.log(
    "contender                       bursts  burst                  work                   <1 ms  start→work  work→end",
  );
  for (const [name, [all, toWork, working, after]] of times) {
    const short = working!.filter((ms) => ms < 1).length / working!.length;
    console.log(
      `${name.padEnd(31)} ${String(all!.length).padStart(6)}  ${spread(all!).padEnd(22)} ${spread(working!).padEnd(22)} ` +
        `${(short * 100).toFixed(0).padStart(4)}%  ${median(toWork!).toFixed(3).padStart(10)}  ${median(after!).toFixed(3).padStart(8)}`,
    );
  }
} finally {
  // Each step on its own: one that fails leaves the others to run.
  for (const c of contenders) await c.close().catch(() => {});
  if (ioredisClients[0]) await deleteKeys(ioredisClients[0], `*${tag}*`).catch(() => {});
  for (const c of ioredisClients) c.disconnect();
  if (nodeRedis?.isReady) await nodeRedis.quit().catch(() => {});
  else nodeRedis?.destroy();
}
