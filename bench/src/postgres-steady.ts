/**
 * One PostgreSQL contender's replays in one process, slice after slice: `node --expose-gc --import tsx
 * src/postgres-steady.ts <idemkit|baseline> [in flight] [slices] [slice ms] [outcome bytes]` prints each
 * slice's req/s, CPU µs a request (the whole process) and heap; the first slices are the warm-up. Run
 * builds one after the other, alternating, and compare the later slices: measured in turns in one
 * process (`pair-in-process.ts`), each build's garbage lands in the other's slices, and at 64 KiB that
 * hid a CPU difference of half (twenty-eighth round).
 */
import pg from "pg";
import { postgresBaseline, postgresIdemkit } from "./contenders/postgres.js";
import { closedLoop } from "./loop.js";
import { inputOf, outcomeOf } from "./scenarios.js";

const [which = "idemkit", inFlight = "64", slices = "10", sliceMs = "1500", bytes = "65536"] =
  process.argv.slice(2);
const pool = new pg.Pool({ connectionString: "postgres://postgres@127.0.0.1:5432/test", max: 16 });
const c =
  which === "idemkit"
    ? await postgresIdemkit(pool, `steady_${process.pid}`)
    : await postgresBaseline(pool, `steady_${process.pid}`);
const keys = Array.from({ length: 1000 }, (_, i) => `steady:${i}`);
const run = (key: string) => c.run(key, inputOf(key), async () => outcomeOf(key, Number(bytes)));
for (const k of keys) await run(k);
const out: string[] = [];
for (let s = 0; s < Number(slices); s++) {
  const x = await closedLoop({
    concurrency: Number(inFlight),
    durationMs: Number(sliceMs),
    maxOps: 1e9,
    op: async (i) => void (await run(keys[i % 1000]!)),
  });
  const m = process.memoryUsage();
  out.push(
    `${x.throughput.toFixed(0)}/${x.cpuUsPerRequest.toFixed(0)}/${(m.heapUsed / 1e6).toFixed(0)}M/${(m.external / 1e6).toFixed(0)}M`,
  );
}
console.log(which, "req/s / CPU µs / heap / external per slice:", out.join("  "));
await c.close();
await pool.end();
