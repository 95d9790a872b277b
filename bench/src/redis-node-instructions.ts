/**
 * Node's own work a Redis new key, counted in instructions on the main thread: `node --import tsx
 * src/redis-node-instructions.ts [requests]` runs the hand-written baseline and idemkit's `execute()` on
 * its Redis store (the bench's contenders, one request at a time) in a process of their own under
 * valgrind's callgrind, once with only a warm-up of 5,000 new keys and once with `requests` more, and
 * prints the difference per request on the main thread (the compilers' and collector's threads left
 * out). What it leaves out: the kernel (socket reads and writes) and Redis itself, whose share
 * `src/redis-instructions.ts` counts. ~6 minutes. Needs valgrind and the bench's Redis.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { redisBaseline, redisIdemkit } from "./contenders/redis.js";
import { inputOf, outcomeOf } from "./scenarios.js";
import { REDIS_URL } from "./setup.js";

const WARM_UP = 5_000;
const [first, second, third] = process.argv.slice(2);

if (first === "--child") {
  const client = new Redis(REDIS_URL);
  const contender = second === "baseline" ? redisBaseline(client) : redisIdemkit(client);
  const tag = `rni:${process.pid}`;
  const newKey = async (key: string) => contender.run(key, inputOf(key), async () => outcomeOf(key, 0));
  for (let i = 0; i < WARM_UP; i++) await newKey(`${tag}:warm:${i}`);
  for (let i = 0; i < Number(third); i++) await newKey(`${tag}:${i}`);
  client.disconnect();
} else {
  const requests = Number(first ?? 3000);
  const dir = mkdtempSync(join(tmpdir(), "idemkit-rni-"));
  /** The main thread's instructions of a run with `count` requests after the warm-up. */
  const mainThread = (contender: string, count: number) => {
    const out = join(dir, `${contender}.${count}`);
    const script = fileURLToPath(import.meta.url);
    const { status, stderr } = spawnSync(
      "valgrind",
      ["--tool=callgrind", "--separate-threads=yes", `--callgrind-out-file=${out}`, process.execPath].concat([
        "--import",
        "tsx",
        script,
        "--child",
        contender,
        String(count),
      ]),
      { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
    );
    if (status !== 0)
      throw new Error(`${contender} under callgrind exited with ${status}: ${stderr.slice(-2000)}`);
    return Number(/^totals: (\d+)/m.exec(readFileSync(`${out}-01`, "utf8"))?.[1] ?? Number.NaN);
  };
  try {
    for (const contender of ["baseline", "idemkit"]) {
      const perRequest = (mainThread(contender, requests) - mainThread(contender, 0)) / requests;
      console.log(
        `${contender.padEnd(8)} ${Math.round(perRequest)} instructions a new key on Node's main thread`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
