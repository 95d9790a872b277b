/**
 * PostgreSQL replays measured as the bench measures them, with where each measurement's time went:
 * `node --expose-gc --import tsx src/postgres-turns.ts [in flight] [repeats] [outcome bytes] [shared|apart] [only]`
 * (`POOL_MAX` sets the pool size, 16 as in the bench; `SCENARIO=new` measures new keys, not replays). The baseline and idemkit take turns in one
 * process, order rotated each repeat (`only`: `baseline` or `idemkit` measures one of them); each
 * measurement starts with a forced collection and a rewarm (as `main.ts`), then runs 600 ms and prints
 * the Node process's user and system CPU µs a request, the minor page faults a request, req/s, its CPU
 * µs a request (user and system together, as the bench's tables), the PostgreSQL server's
 * (the pool's backends, /proc/<pid>/schedstat), and the collector's ms, minor and
 * major (`PerformanceObserver` "gc"). `shared`: one pg Pool for both, as the bench; `apart`: a Pool each.
 */

import { readFileSync } from "node:fs";
import { PerformanceObserver, constants as perf } from "node:perf_hooks";
import pg from "pg";
import { postgresBaseline, postgresIdemkit } from "./contenders/postgres.js";
import type { Contender } from "./contenders/types.js";
import { closedLoop } from "./loop.js";
import { inputOf, outcomeOf } from "./scenarios.js";

const [inFlight = "64", repeats = "5", bytes = "65536", pools = "shared", only = ""] = process.argv.slice(2);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --expose-gc");

const POOL_MAX = Number(process.env.POOL_MAX ?? 16);
const poolOf = () =>
  new pg.Pool({
    connectionString: "postgres://postgres@127.0.0.1:5432/test",
    max: POOL_MAX,
    idleTimeoutMillis: 0, // the backends measured stay the pool's for the whole run
  });
const shared = poolOf();
const idemkitPool = pools === "shared" ? shared : poolOf();
const contenders: Contender[] = [
  await postgresBaseline(shared, `turns_b_${process.pid}`),
  await postgresIdemkit(idemkitPool, `turns_i_${process.pid}`),
];
const keys = Array.from({ length: 200 }, (_, i) => `turns:${i}`);
const runOf = (c: Contender) => (key: string) =>
  c.run(key, inputOf(key), async () => outcomeOf(key, Number(bytes)));
for (const c of contenders) for (const k of keys) await runOf(c)(k);

let minorMs = 0;
let majorMs = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    // A gc entry's `detail` carries its kind (Node 16+); the DOM typing of PerformanceEntry lacks it.
    const kind = (e as { detail?: { kind?: number } }).detail?.kind;
    if (kind === perf.NODE_PERFORMANCE_GC_MINOR) minorMs += e.duration;
    else majorMs += e.duration;
  }
}).observe({ entryTypes: ["gc"] });

/** The server process of every connection of `pool`, all opened at once (the pool never closes them). */
async function backendPids(pool: pg.Pool): Promise<number[]> {
  const clients = await Promise.all(Array.from({ length: POOL_MAX }, () => pool.connect()));
  const pids = await Promise.all(
    clients.map(async (c) => (await c.query("SELECT pg_backend_pid() AS pid")).rows[0].pid),
  );
  for (const c of clients) c.release();
  return pids;
}
const backends = [...new Set([...(await backendPids(shared)), ...(await backendPids(idemkitPool))])];

/** ns the pool's backends have run on a CPU (/proc/<pid>/schedstat): no other session, no autovacuum. */
function postgresNs(): number {
  let ns = 0;
  for (const pid of backends) ns += Number(readFileSync(`/proc/${pid}/schedstat`, "utf8").split(" ")[0]);
  return ns;
}

const fresh = process.env.SCENARIO === "new";
let loops = 0;
/** A closed loop of `c`'s requests: replays of the keys above, or keys no loop used before. */
function loop(c: Contender, durationMs: number, maxOps: number) {
  const run = loops++;
  const keyOf = (i: number) => (fresh ? `turns:new:${run}:${i}` : keys[i % keys.length]!);
  return closedLoop({
    concurrency: Number(inFlight),
    durationMs,
    maxOps,
    op: async (i) => void (await runOf(c)(keyOf(i))),
  });
}

const lines: Record<string, string[]> = { baseline: [], idemkit: [] };
for (let repeat = 0; repeat < Number(repeats); repeat++) {
  const order = contenders.map((_, i) => contenders[(i + repeat) % contenders.length]!);
  for (const c of order) {
    if (only && c.name !== only) continue;
    gc();
    await loop(c, 400, 1000);
    // Observer entries arrive after the collection: let the rewarm's land before zeroing.
    await new Promise((resolve) => setImmediate(resolve));
    minorMs = 0;
    majorMs = 0;
    const faults0 = process.resourceUsage().minorPageFault;
    const cpu0 = process.cpuUsage();
    const pg0 = postgresNs();
    const x = await loop(c, 600, 1e9);
    const pgUs = (postgresNs() - pg0) / 1000 / x.requests;
    const faults = (process.resourceUsage().minorPageFault - faults0) / x.requests;
    const cpu = process.cpuUsage(cpu0);
    const userSystem = `${(cpu.user / x.requests).toFixed(0)}u${(cpu.system / x.requests).toFixed(0)}s`;
    await new Promise((resolve) => setImmediate(resolve));
    lines[c.name]!.push(
      `${userSystem} ${faults.toFixed(1)}pf ${x.throughput.toFixed(0)}/${x.cpuUsPerRequest.toFixed(0)}+${pgUs.toFixed(0)}pg/${minorMs.toFixed(0)}+${majorMs.toFixed(0)}`,
    );
  }
}
for (const [name, l] of Object.entries(lines).filter(([, l]) => l.length > 0))
  console.log(
    name.padEnd(8),
    "Node CPU µs user+system, page faults/req, req/s / Node+server CPU µs / gc ms minor+major:",
    l.join("  "),
  );
for (const c of contenders) await c.close();
await shared.end();
if (idemkitPool !== shared) await idemkitPool.end();
process.exit(0);
