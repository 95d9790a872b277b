/**
 * Two routes of one bench server, compared in short alternating slices, for machines whose speed
 * swings within seconds (a shared VM can run the same loop at half speed for a while): a route run
 * after another for seconds measures the machine as much as the route. A route written
 * `<route>@<checkout>` is served by that checkout's own server and build (both servers on core 0, each
 * idle while the other is loaded): `idemkit idemkit@/tmp/base` compares two builds of one route.
 * `node --import tsx src/http/interleave.ts <routeA> <routeB> [new|replay] [seconds] [connections] [sliceMs] [framework]`
 * sends requests to A for one slice, then to B, and so on, and prints B ÷ A for req/s and for the
 * server's CPU per request, summed over all slices and as the median of the per-pair ratios, and each
 * route's collection pauses and Redis's CPU per request (Redis's counters are server-wide: nothing else
 * should use it meanwhile). `new` sends a fresh key each time; `replay` first completes a pool of keys
 * on each route, then cycles through them.
 * Pinned as the full run is: the server on core 0, this process on the others (Redis floats).
 * With `PROFILE_DIR=<dir>` the server writes a CPU profile there (both routes in one) and this writes
 * the slices beside it (`slices.json`), for `split-profile.ts` to charge each sample to its route.
 * With `HEAP_PROFILE=<file>` the server samples its allocations into that file (`heap-sampling.cjs`;
 * read with `allocations.ts`): give the same route as A and B, since the samples carry no time. Both
 * profile one server: they are refused when the two sides name different checkouts (one written with
 * `@…` and one without, or two different `@…`), which start two servers.
 */
import { writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { REDIS_URL, redisCpuUs } from "../setup.js";
import { median } from "../stats.js";
import type { Slice } from "./route-samples.js";
import {
  BODY,
  deleteKeys,
  type Framework,
  heapSamplingArgs,
  pinLoadOffServerCore,
  profileArgs,
  routeAt,
  serverCpu,
  startServer,
  stopServer,
} from "./run.js";

/** The monotonic clock a CPU profile's timestamps are read from, in µs. */
const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

const [
  a = "idemkit-run",
  b = "idemkit",
  scenario = "new",
  seconds = "20",
  connections = "16",
  sliceMs = "250",
  framework = "express",
] = process.argv.slice(2);
const routes = [a, b] as const;
const runId = `interleave-${Date.now()}`;
// As the full run does: the server gets core 0, and this process (the load) the others.
const pinned = pinLoadOffServerCore();
/** Each side's route, and the checkout whose server serves it ("" for this one). */
const sides = routes.map(routeAt);
// A profile is one server's: two would write two, and split-profile.ts / allocations.ts read one.
if (sides[0]!.checkout !== sides[1]!.checkout && (process.env.PROFILE_DIR || process.env.HEAP_PROFILE)) {
  throw new Error("PROFILE_DIR and HEAP_PROFILE profile one server: give both routes of one checkout");
}
const servers = new Map<string, Awaited<ReturnType<typeof startServer>>>();
for (const { checkout } of sides) {
  if (servers.has(checkout)) continue;
  const nodeArgs = [...profileArgs(process.env.PROFILE_DIR), ...heapSamplingArgs(process.env.HEAP_PROFILE)];
  servers.set(
    checkout,
    await startServer(framework as Framework, runId, pinned, nodeArgs, checkout || undefined),
  );
}
const portOf = (which: 0 | 1) => servers.get(sides[which]!.checkout)!.port;
// Redis's CPU is server-wide: read around each slice, it is charged to the slice's route.
const admin = new Redis(REDIS_URL);
const agent = new Agent({ keepAlive: true, maxSockets: Number(connections) });

const POOL = 2000;
let n = 0;
// By side, not by route: a route written `<route>@<checkout>` holds characters a key may not (400).
const keyFor = (which: 0 | 1) =>
  scenario === "replay" ? `${runId}-${which}-${n++ % POOL}` : `${runId}-${n++}`;
let current = 0; // index into routes
let stopped = false;
const done = [0, 0];
let failed = 0;

/** One request to side `which`'s route, on its server; resolves to the status. */
function post(which: 0 | 1): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: "127.0.0.1",
        port: portOf(which),
        method: "POST",
        path: `/${sides[which]!.route}`,
        headers: { "content-type": "application/json", "idempotency-key": keyFor(which) },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", reject);
    req.end(BODY);
  });
}

async function connection() {
  while (!stopped) {
    const which = current as 0 | 1;
    const status = await post(which);
    if (status >= 300) failed++;
    done[which]!++;
  }
}

if (scenario === "replay") {
  for (const which of [0, 1] as const) {
    for (let i = 0; i < POOL; i += 50) await Promise.all(Array.from({ length: 50 }, () => post(which)));
  }
}
const loops = Array.from({ length: Number(connections) }, connection);
// Warm-up, each side in turn: a second server gets no compilation from the first's.
for (const which of [0, 1] as const) {
  current = which;
  await sleep(2000);
}
const sliceCount = Math.floor((Number(seconds) * 1000) / Number(sliceMs) / 2) * 2;
const pairs: {
  req: [number, number];
  cpu: [number, number];
  gc: [number, number];
  redis: [number, number];
}[] = [];
const slices: Slice[] = [];
for (let i = 0; i < sliceCount; i += 2) {
  const pair = {
    req: [0, 0] as [number, number],
    cpu: [0, 0] as [number, number],
    gc: [0, 0] as [number, number],
    redis: [0, 0] as [number, number],
  };
  for (const which of [0, 1] as const) {
    current = which;
    await sleep(20); // let the other route's requests drain out of this slice
    const before = [...done];
    const cpuBefore = await serverCpu(portOf(which));
    const redisBefore = await redisCpuUs(admin);
    const startUs = monotonicUs();
    await sleep(Number(sliceMs));
    const endUs = monotonicUs();
    const redisAfter = await redisCpuUs(admin);
    const cpuAfter = await serverCpu(portOf(which));
    pair.redis[which] = redisAfter - redisBefore;
    pair.cpu[which] = cpuAfter.cpuUs - cpuBefore.cpuUs;
    pair.gc[which] = cpuAfter.gcUs - cpuBefore.gcUs;
    pair.req[which] = done[which]! - before[which]!;
    slices.push({ route: routes[which], startUs, endUs, requests: pair.req[which] });
  }
  pairs.push(pair);
}
stopped = true;
await Promise.all(loops);
for (const { child } of servers.values()) await stopServer(child);
await deleteKeys(runId);
admin.disconnect();
if (process.env.PROFILE_DIR)
  writeFileSync(join(process.env.PROFILE_DIR, "slices.json"), JSON.stringify(slices));

const sum = (f: (p: (typeof pairs)[number]) => number) => pairs.reduce((s, p) => s + f(p), 0);
const cpuPerReq = (which: 0 | 1) => sum((p) => p.cpu[which]) / sum((p) => p.req[which]);
const gcPerReq = (which: 0 | 1) => sum((p) => p.gc[which]) / sum((p) => p.req[which]);
const redisPerReq = (which: 0 | 1) => sum((p) => p.redis[which]) / sum((p) => p.req[which]);
const cpuMedian = median(pairs.map((p) => p.cpu[0] / p.req[0] / (p.cpu[1] / p.req[1])));
console.log(
  `${b} ÷ ${a}, ${scenario}, ${pairs.length} pairs of ${sliceMs} ms slices, ${connections} connections: ` +
    `req/s ${(sum((p) => p.req[1]) / sum((p) => p.req[0])).toFixed(3)} ` +
    `(median of pairs ${median(pairs.map((p) => p.req[1] / p.req[0])).toFixed(3)}); ` +
    `server CPU µs/req ${cpuPerReq(0).toFixed(1)} → ${cpuPerReq(1).toFixed(1)} ` +
    `(A÷B ${(cpuPerReq(0) / cpuPerReq(1)).toFixed(3)}, median of pairs ${cpuMedian.toFixed(3)}); ` +
    `of it in collections µs/req ${gcPerReq(0).toFixed(1)} → ${gcPerReq(1).toFixed(1)}; ` +
    `Redis CPU µs/req ${redisPerReq(0).toFixed(1)} → ${redisPerReq(1).toFixed(1)}; ` +
    `requests ${sum((p) => p.req[0])} / ${sum((p) => p.req[1])}; non-2xx ${failed}`,
);
// Answers that are not the route's (400s, 409s) cost less than the route: the ratios above do not hold.
if (failed > 0) console.error(`WARNING: ${failed} answers were not 2xx; the ratios compare something else`);
