/**
 * Where a burst's time goes, contender by contender: `node --import tsx src/burst-timeline.ts [duplicates]
 * [rounds]` runs the bench's burst (that many concurrent duplicates of one new key, the first doing 1 ms
 * of work, `sleep(1)` as the bench's) for idemkit, the baseline and node-idempotency on Redis, in turns
 * of 250 ms, and prints the medians of: the whole burst; from its start to the work's start; the work's
 * `sleep(1)` as it really lasted; from the work's end to the burst's end. A `setTimeout` counts from the
 * event loop's cached clock, so a work started late in a long pass of the loop sleeps less than 1 ms of
 * real time: the third column shows how much of a burst's time is that.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { nodeIdempotencyRedis } from "./contenders/peers.js";
import { redisBaseline, redisIdemkit } from "./contenders/redis.js";
import type { Contender } from "./contenders/types.js";
import { inputOf, outcomeOf } from "./scenarios.js";
import { REDIS_URL } from "./setup.js";
import { median } from "./stats.js";

const duplicates = Number(process.argv[2] ?? 16);
const rounds = Number(process.argv[3] ?? 40);
const WARM_ROUNDS = 4;
const tag = `burst-timeline:${Date.now()}`;
const clients = [new Redis(REDIS_URL), new Redis(REDIS_URL)] as const;
const contenders: Contender[] = [
  redisIdemkit(clients[0]),
  redisBaseline(clients[1]),
  await nodeIdempotencyRedis(REDIS_URL, `${tag}:ni`),
];
const phases = ["burst", "start→work", "sleep(1)", "work→end"] as const;
const times = new Map(contenders.map((c) => [c.name, phases.map(() => [] as number[])]));

/** One burst: the times of its phases, in ms. */
async function burst(c: Contender, key: string): Promise<number[]> {
  const started = performance.now();
  let workStarted = 0;
  let workEnded = 0;
  const work = async () => {
    workStarted = performance.now();
    await sleep(1);
    workEnded = performance.now();
    return outcomeOf(key, 0);
  };
  await Promise.allSettled(Array.from({ length: duplicates }, () => c.run(key, inputOf(key), work)));
  const ended = performance.now();
  return [ended - started, workStarted - started, workEnded - workStarted, ended - workEnded];
}

try {
  let i = 0;
  for (let round = 0; round < rounds + WARM_ROUNDS; round++) {
    for (const c of contenders) {
      const end = performance.now() + 250;
      while (performance.now() < end) {
        const measured = await burst(c, `${tag}:${c.name}:${i++}`);
        if (round < WARM_ROUNDS) continue;
        const rows = times.get(c.name)!;
        for (const [p, ms] of measured.entries()) rows[p]!.push(ms);
      }
    }
  }
  console.log(`${duplicates} duplicates a burst, medians in ms: ${phases.join(" / ")}`);
  for (const [name, [all, ...rest]] of times) {
    const cells = [all!, ...rest].map((values) => median(values).toFixed(3));
    console.log(`${name.padEnd(17)} ${String(all!.length).padStart(6)} bursts  ${cells.join(" / ")}`);
  }
} finally {
  for (const c of contenders) await c.close();
  let cursor = "0";
  do {
    const [next, keys] = await clients[0].scan(cursor, "MATCH", `*${tag}*`, "COUNT", 1000);
    if (keys.length > 0) await clients[0].del(...keys);
    cursor = next;
  } while (cursor !== "0");
  for (const c of clients) c.disconnect();
}
