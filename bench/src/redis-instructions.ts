/**
 * Redis's work per request, counted in instructions: `node --import tsx src/redis-instructions.ts
 * [other checkout] [requests]` runs a Redis of its own under valgrind's callgrind and sends it new
 * keys, then replays, through the hand-written baseline and through idemkit's Redis store for each
 * build given (the other checkout's, if any, then this one's). It prints the instructions Redis ran
 * per new key (claim + complete) and per replay. Instructions, not seconds: the count is the same run after run whatever else the machine
 * does, so a change in the scripts of a few percent shows, where timed runs here swing by 2×.
 * Needs valgrind and redis-server; the other checkout must be built (`pnpm build`).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as thisCore from "@idemkit/core";
import * as thisRedis from "@idemkit/redis";
import { Redis } from "ioredis";
import { redisBaseline } from "./contenders/redis.js";
import { packageOf } from "./other-build.js";
import { inputOf, outcomeOf } from "./scenarios.js";

const [other, requests = "2000"] = process.argv.slice(2);
const IN_FLIGHT = 16;
const REPLAY_KEYS = 200;

async function sparePort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A Redis under callgrind, its counts written into `dir` at each `dump`. */
async function countedRedis(dir: string): Promise<{ child: ChildProcess; port: number }> {
  const port = await sparePort();
  const child = spawn(
    "valgrind",
    [
      "--tool=callgrind",
      `--callgrind-out-file=${join(dir, "redis.%p")}`,
      "redis-server",
      ...["--port", String(port), "--save", "", "--appendonly", "no"],
    ],
    { stdio: "ignore" },
  );
  const probe = new Redis({ port, lazyConnect: true, retryStrategy: (n) => (n > 300 ? null : 100) });
  probe.on("error", () => {});
  await probe.ping();
  probe.disconnect();
  return { child, port };
}

/** Instructions Redis ran during `load`: counters zeroed before, dumped after. */
async function counted(child: ChildProcess, dir: string, load: () => Promise<void>): Promise<number> {
  execFileSync("callgrind_control", ["--zero", String(child.pid)], { stdio: "ignore" });
  await load();
  const before = new Set(readdirSync(dir));
  execFileSync("callgrind_control", ["--dump", String(child.pid)], { stdio: "ignore" });
  const dump = readdirSync(dir).find((name) => !before.has(name));
  if (!dump) throw new Error("callgrind wrote no dump");
  const summary = /^summary: (\d+)/m.exec(readFileSync(join(dir, dump), "utf8"));
  if (!summary) throw new Error(`no summary in ${dump}`);
  return Number(summary[1]);
}

type Build = { core: typeof thisCore; redis: typeof thisRedis };

/** Each request, through a build of idemkit or (no build) the hand-written baseline. */
function requester(client: Redis, build: Build | undefined): (key: string) => Promise<void> {
  const work = (key: string) => async () => outcomeOf(key, 0);
  if (build === undefined) {
    const baseline = redisBaseline(client);
    return (key) => baseline.run(key, inputOf(key), work(key)).then(() => {});
  }
  const idem = build.core.createIdempotency({
    store: build.redis.createRedisStore({ client: client as never }),
    retentionMs: 600_000,
  });
  return (key) => idem.execute({ key, input: inputOf(key) }, work(key)).then(() => {});
}

async function measure(name: string, build: Build | undefined): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "idemkit-redis-instructions-"));
  const { child, port } = await countedRedis(dir);
  // No reconnecting once the server shuts down at the end.
  const client = new Redis({ port, retryStrategy: () => null });
  client.on("error", () => {});
  try {
    const run = requester(client, build);
    const batches = async (keyOf: (i: number) => string) => {
      for (let i = 0; i < Number(requests); i += IN_FLIGHT) {
        await Promise.all(Array.from({ length: IN_FLIGHT }, (_, j) => run(keyOf(i + j))));
      }
    };
    // Every script loaded, and the keys to replay completed, before counting.
    for (let i = 0; i < REPLAY_KEYS; i++) await run(`replay:${i}`);
    const fresh = await counted(child, dir, () => batches((i) => `new:${i}`));
    const replays = await counted(child, dir, () => batches((i) => `replay:${i % REPLAY_KEYS}`));
    const per = (total: number) => Math.round(total / Number(requests)).toLocaleString("en");
    console.log(`${name}: Redis instructions per new key ${per(fresh)}, per replay ${per(replays)}`);
  } finally {
    await client.shutdown("NOSAVE").catch(() => {});
    client.disconnect();
    await new Promise((resolve) => child.once("exit", resolve));
    rmSync(dir, { recursive: true, force: true });
  }
}

await measure("baseline", undefined);
if (other) {
  await measure(other, { core: await packageOf(other, "core"), redis: await packageOf(other, "redis") });
}
await measure("this checkout", { core: thisCore, redis: thisRedis });
