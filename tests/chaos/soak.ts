// The long soak: CHAOS_SOAK=1 passes of the chaos suite, store by store, repeated until each store
// has run for the minutes asked, then one table summed over every pass.
//   pnpm --filter @idemkit/tests test:chaos:soak [minutes per store, default 10] [stores: sqlite redis postgres]
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatTable, type ScenarioResult } from "./harness.js";

const [minutesArg, ...storesArg] = process.argv.slice(2);
const minutes = Number(minutesArg ?? 10);
if (!(minutes > 0)) throw new RangeError(`minutes per store must be a positive number; got ${minutesArg}`);
const stores = storesArg.length > 0 ? storesArg : ["sqlite", "redis", "postgres"];

const root = join(import.meta.dirname, "..");
const vitest = join(root, "node_modules", ".bin", "vitest");
const dir = mkdtempSync(join(tmpdir(), "idemkit-soak-"));
const file = join(dir, "results.jsonl");
const totals: ScenarioResult[] = [];
const passes: Record<string, number> = {};
let failed = false;
try {
  for (const store of stores) {
    const until = Date.now() + minutes * 60_000;
    passes[store] = 0;
    while (Date.now() < until) {
      passes[store]++;
      const started = Date.now();
      // The package's own vitest (npx under pnpm warns about pnpm's npm settings on every pass).
      const run = spawnSync(vitest, ["run", "chaos/chaos.test.ts", "-t", `${store}: `], {
        cwd: root,
        env: { ...process.env, CHAOS_SOAK: "1", CHAOS_RESULTS: file },
        stdio: ["ignore", "ignore", "inherit"],
      });
      console.log(
        `${store} pass ${passes[store]}: exit ${run.status} in ${((Date.now() - started) / 1000).toFixed(0)} s`,
      );
      if (run.status !== 0) failed = true;
    }
  }
  const rows = readFileSync(file, "utf8").trim().split("\n").filter(Boolean);
  for (const row of rows.map((line) => JSON.parse(line) as ScenarioResult)) {
    const total = totals.find((t) => t.store === row.store && t.fault === row.fault);
    if (!total) {
      totals.push(row);
      continue;
    }
    for (const field of [
      "injected",
      "keys",
      "requests",
      "executions",
      "takeovers",
      "unackedAnswers",
      "seconds",
    ] as const) {
      total[field] += row[field];
    }
    total.violations.push(...row.violations);
  }
  console.log(
    `\nchaos soak, ${minutes} min per store; passes: ${JSON.stringify(passes)}\n${formatTable(totals)}`,
  );
  const violations = totals.flatMap((t) => t.violations.map((v) => `${t.store} / ${t.fault}: ${v}`));
  if (violations.length > 0) console.log(violations.slice(0, 20).join("\n"));
  process.exitCode = failed || violations.length > 0 ? 1 : 0;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
