/**
 * Replays as the full bench takes them on Redis (its setup, `populate` and `measure`), for contenders
 * named on the command line, alone or in turns in this one process, with each measurement's CPU split
 * into user and system time, page faults and the process's resident size:
 * `node --expose-gc --import tsx src/turns-probe.ts <contenders, comma-separated> <in flight> <repeats>
 * [outcome bytes]`.
 */
import { readdirSync, readFileSync } from "node:fs";
import { memoryUsage, resourceUsage } from "node:process";
import { Redis } from "ioredis";
import { redisIdemkit } from "./contenders/redis.js";
import { measure, populate, SCENARIOS } from "./scenarios.js";
import { REDIS_URL, setupStore } from "./setup.js";

const [names = "idemkit,baseline", inFlight = "16", repeats = "5", bytes = "65536"] = process.argv.slice(2);
const runId = `probe${Date.now().toString(36)}`;
const setup = await setupStore("redis", runId);
if (typeof setup === "string") throw new Error(setup);
const wanted = names.split(",");
const active = wanted.map((n) => {
  // PROBE_OWN_CLIENT: idemkit on a client of its own rather than the one it shares with the baseline.
  if (n === "idemkit" && process.env.PROBE_OWN_CLIENT) return redisIdemkit(new Redis(REDIS_URL));
  const c = setup.contenders.find((x) => (x.label ?? x.name) === n);
  if (!c) throw new Error(`no contender ${n}`);
  return c;
});
// PROBE_BEFORE=1: small replays at 1, 16, 64 and 256 in flight first, as a full run's earlier scenarios.
if (process.env.PROBE_BEFORE) {
  const small = Array.from({ length: 2000 }, (_, i) => `${runId}:small:${i}`);
  for (const c of active) await populate(c, small, 0);
  for (const concurrency of [1, 16, 64, 256])
    for (const c of active)
      await measure(c, SCENARIOS.replay, concurrency, { durationMs: 600, maxOps: 60_000 }, "b", small);
}
const scenario = { ...SCENARIOS["replay-64k"], outcomeBytes: Number(bytes) };
const keys = Array.from({ length: 200 }, (_, i) => `${runId}:rp:${i}`);
for (const c of active) await populate(c, keys, scenario.outcomeBytes);
for (const c of active) await measure(c, scenario, 16, { durationMs: 300, maxOps: 5000 }, "warm", keys);
/** Clock ticks of CPU (user + system) of this process's main thread and of its other threads. */
function threadTicks(): { main: number; others: number; byName: Map<string, number> } {
  let main = 0;
  let others = 0;
  const byName = new Map<string, number>();
  for (const tid of readdirSync("/proc/self/task")) {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
    const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]);
    if (Number(tid) === process.pid) main += ticks;
    else {
      others += ticks;
      byName.set(`${name}#${tid}`, ticks);
    }
  }
  return { main, others, byName };
}
const byNameDelta = (a: Map<string, number>, b: Map<string, number>) =>
  [...b]
    .map(([k, v]) => [k, v - (a.get(k) ?? 0)] as const)
    .filter(([, v]) => v > 0)
    .map(([k, v]) => `${k}:${v}`)
    .join(" ");
const rewarm = { budget: { durationMs: 400, maxOps: 1000 } };
const seen = new Map<string, number[]>();
for (let r = 0; r < Number(repeats); r++) {
  const order = active.map((_, i) => active[(i + r) % active.length]!);
  for (const c of order) {
    const before = resourceUsage();
    const ticksBefore = threadTicks();
    const m = await measure(
      c,
      scenario,
      Number(inFlight),
      { durationMs: 600, maxOps: 60_000 },
      "t",
      keys,
      rewarm,
    );
    const after = resourceUsage();
    const ticksAfter = threadTicks();
    const per = (a: number, b: number) => ((b - a) / m.requests).toFixed(2);
    const name = c.label ?? c.name;
    seen.set(name, [...(seen.get(name) ?? []), m.cpuUsPerRequest]);
    console.log(
      `${name.padEnd(16)} ${Math.round(m.throughput)} req/s ${m.cpuUsPerRequest.toFixed(0)} cpu-us ` +
        `(whole measure incl. rewarm: user ${per(before.userCPUTime, after.userCPUTime)} sys ${per(before.systemCPUTime, after.systemCPUTime)} ` +
        `minflt ${per(before.minorPageFault, after.minorPageFault)}; ticks main ${ticksAfter.main - ticksBefore.main} ` +
        `others ${ticksAfter.others - ticksBefore.others} [${byNameDelta(ticksBefore.byName, ticksAfter.byName)}]) rss ${(memoryUsage.rss() / 2 ** 20).toFixed(0)} MiB`,
    );
  }
}
for (const [name, cpu] of seen) {
  const s = [...cpu].sort((a, b) => a - b);
  console.log(`median ${name}: ${s[s.length >> 1]!.toFixed(0)} cpu-us/req`);
}
await setup.teardown();
process.exit(0);
