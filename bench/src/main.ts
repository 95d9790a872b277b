import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { measureApart } from "./apart.js";
import type { Contender, StoreName } from "./contenders/types.js";
import { type CommandCount, countContender } from "./counts.js";
import { FRAMEWORKS, type Framework, type HttpResult, runHttp } from "./http/run.js";
import { printSummary, ratioRows, renderSvg } from "./report.js";
import { type Runner, runsApart, runsHere } from "./runner.js";
import {
  type Budget,
  type Measurement,
  measure,
  SCENARIOS,
  type ScenarioName,
  untilAbandonedExpire,
} from "./scenarios.js";
import { setupStore } from "./setup.js";

const { values: args } = parseArgs({
  // `pnpm run bench -- --flag` hands the script a literal `--`: dropped, so both spellings work.
  args: process.argv.slice(2).filter((a) => a !== "--"),
  options: {
    full: { type: "boolean", default: false },
    stores: { type: "string" },
    scenarios: { type: "string" },
    "no-http": { type: "boolean", default: false },
    "http-only": { type: "boolean", default: false },
    "no-rewarm": { type: "boolean", default: false },
    frameworks: { type: "string" },
    out: { type: "string" },
    // Every store in this process, one after another (by default each has a process of its own).
    "one-process": { type: "boolean", default: false },
    // A store's contenders in its process (by default each has a process of its own: runner.ts).
    "contenders-together": { type: "boolean", default: false },
    // Set by the run that starts this one: measure the stores and write what was measured there.
    part: { type: "string" },
  },
});

interface Plan {
  mode: "quick" | "full";
  concurrencies: number[];
  repeats: number;
  budget: Budget;
  /** Unrecorded, after each measurement's collection (scenarios.ts, `measure`). */
  rewarm: Budget;
  warmupMs: number;
  scenarios: ScenarioName[];
  replayKeys: number;
  burstCheck: { bursts: number; size: number }[];
  http: { durationSec: number; connections: number[]; repeats: number };
}

const QUICK: Plan = {
  mode: "quick",
  concurrencies: [1, 16, 64, 256],
  repeats: 3,
  budget: { durationMs: 200, maxOps: 20_000 },
  rewarm: { durationMs: 150, maxOps: 5000 },
  warmupMs: 100,
  scenarios: ["new", "replay", "burst"],
  replayKeys: 500,
  burstCheck: [{ bursts: 20, size: 16 }],
  http: { durationSec: 1.5, connections: [16], repeats: 2 },
};

const FULL: Plan = {
  mode: "full",
  concurrencies: [1, 16, 64, 256],
  repeats: 5,
  budget: { durationMs: 600, maxOps: 60_000 },
  rewarm: { durationMs: 400, maxOps: 20_000 },
  warmupMs: 300,
  scenarios: Object.keys(SCENARIOS) as ScenarioName[],
  replayKeys: 2000,
  burstCheck: [
    { bursts: 50, size: 16 },
    { bursts: 20, size: 64 },
  ],
  http: { durationSec: 4, connections: [16, 64], repeats: 3 },
};

export interface Row extends Measurement {
  store: StoreName;
  scenario: ScenarioName;
  concurrency: number;
  repeat: number;
  contender: string;
}

export interface NotComparable {
  store: string;
  contender: string;
  scenario: string;
  reason: string;
}

export interface BurstCheck {
  store: StoreName;
  contender: string;
  burstSize: number;
  keys: number;
  executions: number;
  maxPerKey: number;
  keysRunMoreThanOnce: number;
}

const plan: Plan = args.full ? FULL : QUICK;
if (args["no-rewarm"]) plan.rewarm = { durationMs: 0, maxOps: 0 };
if (args.scenarios) plan.scenarios = args.scenarios.split(",") as ScenarioName[];
// MySQL skips itself (SKIPPED line) where no MariaDB runs or is installed; DynamoDB needs only dynalite.
const DEFAULT_STORES: StoreName[] = [
  "memory",
  "sqlite",
  "redis",
  "node-redis",
  "postgres",
  "mysql",
  "dynamodb",
];
const stores = args["http-only"] ? [] : ((args.stores?.split(",") ?? DEFAULT_STORES) as StoreName[]);
for (const store of stores) {
  if (!DEFAULT_STORES.includes(store))
    throw new Error(`--stores: unknown ${store} (${DEFAULT_STORES.join(", ")})`);
}
const frameworks = (args.frameworks?.split(",") ?? Object.keys(FRAMEWORKS)) as Framework[];
for (const f of frameworks) {
  if (!(f in FRAMEWORKS))
    throw new Error(`--frameworks: unknown ${f} (${Object.keys(FRAMEWORKS).join(", ")})`);
}
/**
 * What each measurement runs unrecorded after its collection, or nothing (`--no-rewarm`). Takeovers
 * count claims, not time: ~5,000 recompile their path (HISTORY.md, fourteenth round), and a store slow
 * enough to cap its prepared keys (DynamoDB on dynalite) could not take over that many in a rewarm,
 * so its takeovers run without one. Outcomes over 4 KiB rewarm on at most 1,000 requests: the memory
 * baseline keeps every outcome, and 64 KiB ones would fill the heap.
 */
function rewarmOf(scenario: (typeof SCENARIOS)[ScenarioName], maxPrepared: number): Budget | undefined {
  if (plan.rewarm.maxOps === 0) return undefined;
  if (scenario.kind === "takeover")
    return Number.isFinite(maxPrepared)
      ? undefined
      : { durationMs: 5 * plan.rewarm.durationMs, maxOps: TAKEOVER_REWARM_CLAIMS };
  if (scenario.outcomeBytes > 4096) return { ...plan.rewarm, maxOps: Math.min(plan.rewarm.maxOps, 1000) };
  return plan.rewarm;
}
const TAKEOVER_REWARM_CLAIMS = 5000;
/** `count` keys for abandoned claims, under `tag`. */
const takeoverKeysOf = (tag: string, count: number) =>
  Array.from({ length: count }, (_, i) => `${tag}:to${i}`);

const runId = `r${Date.now().toString(36)}`;
const started = Date.now();
const label = (c: Contender) => c.label ?? c.name;

const rows: Row[] = [];
const counts: CommandCount[] = [];
const bursts: BurstCheck[] = [];
const skipped: string[] = [];
const versions: string[] = [];
const notComparable: NotComparable[] = [];

if (!args.part)
  console.log(
    args["http-only"]
      ? `idemkit bench (${plan.mode}): HTTP only; ${plan.http.durationSec} s × connections ${plan.http.connections.join("/")} × ${plan.http.repeats} repeats`
      : `idemkit bench (${plan.mode}): stores ${stores.join(", ")}; scenarios ${plan.scenarios.join(", ")}; ` +
          `concurrency ${plan.concurrencies.join("/")}; ${plan.repeats} interleaved repeats of ${plan.budget.durationMs} ms`,
  );

async function measureStore(store: StoreName): Promise<void> {
  const setup = await setupStore(store, runId);
  if (typeof setup === "string") {
    console.log(`SKIPPED ${store}: ${setup}`);
    skipped.push(`${store}: ${setup}`);
    return;
  }
  if (setup.version) versions.push(setup.version);
  const { maxConcurrency } = setup;
  console.log(`\n[${store}] ${setup.contenders.map(label).join(" vs ")}`);
  const concurrencies = plan.concurrencies.filter((c) => !maxConcurrency || c <= maxConcurrency.limit);
  if (concurrencies.length < plan.concurrencies.length) {
    const left = plan.concurrencies.filter((c) => !concurrencies.includes(c)).join("/");
    console.log(`SKIPPED ${store} at ${left} in flight: ${maxConcurrency!.reason}`);
    skipped.push(`${store} at ${left} in flight: ${maxConcurrency!.reason}`);
  }
  const runners = new Map<Contender, Runner>();
  try {
    for (const [i, c] of setup.contenders.entries()) {
      if (args["contenders-together"]) runners.set(c, runsHere(c));
      else {
        // Named apart from this process's setup (tables, files, key prefixes), under this run's id.
        const runner = await runsApart(store, `${runId}${i}`, label(c)).catch((e: Error) => e.message);
        if (typeof runner !== "string") runners.set(c, runner);
        else {
          console.log(`SKIPPED ${store} ${label(c)}: ${runner}`);
          skipped.push(`${store} ${label(c)}: ${runner}`);
        }
      }
    }
    const contenders = [...runners.keys()];
    const runnerOf = (c: Contender) => runners.get(c)!;
    // Store commands per request, by the store's own counters (or a client-side count where none).
    for (const c of contenders) {
      for (const kind of ["new", "replay"] as const) {
        const count = await countContender(setup, c, kind, runId);
        if (typeof count === "string") {
          console.log(`SKIPPED ${store} ${label(c)} ${kind} count: ${count}`);
          skipped.push(`${store} ${label(c)} ${kind} count: ${count}`);
        } else if (count) counts.push(count);
      }
    }

    for (const scenarioName of plan.scenarios) {
      const scenario = SCENARIOS[scenarioName];
      const t0 = Date.now();
      const active = contenders.filter((c) => {
        if (scenario.kind === "takeover" && !c.abandon) {
          notComparable.push({
            store,
            contender: label(c),
            scenario: scenarioName,
            reason: c.noTakeover ?? "",
          });
          return false;
        }
        return true;
      });
      // Stored outcomes for replays (fewer keys for big outcomes, to bound memory; fewer for a slow store).
      const maxPrepared = setup.maxPreparedKeys ?? Number.POSITIVE_INFINITY;
      const replayCount = Math.min(
        plan.replayKeys,
        maxPrepared,
        scenario.outcomeBytes > 4096 ? 200 : Infinity,
      );
      const replayKeys = Array.from(
        { length: replayCount },
        (_, i) => `${runId}:${store}:rp${scenario.outcomeBytes}:${i}`,
      );
      if (scenario.kind === "replay" || scenario.kind === "mix") {
        for (const c of active) await runnerOf(c).populate(replayKeys, scenario.outcomeBytes);
      }
      const takeoverKeys = (tag: string) =>
        takeoverKeysOf(tag, Math.min(plan.budget.maxOps, 3000, maxPrepared));
      const rewarmBudget = rewarmOf(scenario, maxPrepared);
      // Warm-up: JIT and connections, not recorded.
      for (const c of active) {
        const tag = `${runId}:${store}:${scenarioName}:warm:${c.name}`;
        const prepared = scenario.kind === "takeover" ? takeoverKeys(tag) : replayKeys;
        if (scenario.kind === "takeover") {
          await runnerOf(c).abandon(prepared);
          await untilAbandonedExpire();
        }
        await runnerOf(c).measure(
          scenarioName,
          16,
          { durationMs: plan.warmupMs, maxOps: 5000 },
          tag,
          prepared,
        );
      }
      for (const concurrency of concurrencies) {
        if (scenario.kind === "burst" && concurrency === 1) continue;
        for (let repeat = 0; repeat < plan.repeats; repeat++) {
          // Interleave: rotate the order every repeat so drift hits every contender alike.
          const order = active.map((_, i) => active[(i + repeat) % active.length]!);
          const tag = `${runId}:${store}:${scenarioName}:${concurrency}:${repeat}`;
          const prepared = scenario.kind === "takeover" ? takeoverKeys(tag) : replayKeys;
          const rewarmKeys =
            scenario.kind === "takeover" && rewarmBudget
              ? takeoverKeysOf(`${tag}:rw`, rewarmBudget.maxOps)
              : [];
          if (scenario.kind === "takeover") {
            for (const c of order) await runnerOf(c).abandon([...prepared, ...rewarmKeys]);
            await untilAbandonedExpire();
          }
          const rewarm = rewarmBudget && {
            budget: rewarmBudget,
            ...(scenario.kind === "takeover" ? { prepared: rewarmKeys } : {}),
          };
          for (const c of order) {
            const m = await runnerOf(c).measure(
              scenarioName,
              concurrency,
              plan.budget,
              tag,
              prepared,
              rewarm,
            );
            rows.push({ store, scenario: scenarioName, concurrency, repeat, contender: label(c), ...m });
            if (m.errors > 0 || m.rewarmErrors)
              console.log(
                `  ${label(c)} ${scenarioName} c=${concurrency}: ${m.errors} errors, ` +
                  `${m.rewarmErrors ?? 0} in the rewarm (${m.firstError})`,
              );
          }
        }
      }
      console.log(`  ${scenarioName}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }

    // Duplicate executions: bursts of concurrent duplicates on fresh keys, every contender.
    for (const c of [...contenders, ...setup.burstOnly]) {
      for (const { bursts: n, size } of plan.burstCheck) {
        if (maxConcurrency && size > maxConcurrency.limit) continue;
        const m = await measure(
          c,
          SCENARIOS.burst,
          size,
          { durationMs: 60_000, maxOps: n * size },
          `${runId}:${store}:check:${label(c)}:${size}`,
          [],
        );
        const b = m.burst!;
        bursts.push({
          store,
          contender: label(c),
          burstSize: size,
          keys: b.keys,
          executions: b.executions,
          maxPerKey: b.maxPerKey,
          keysRunMoreThanOnce: b.duplicated,
        });
      }
    }
  } finally {
    for (const runner of runners.values())
      await runner.close().catch((error: Error) => console.log(`  ${store}: ${error.message}`));
    await setup.teardown();
  }
  // With stores in one process (`--one-process`): the memory store's 64 KiB outcomes leave a heap of
  // gigabytes behind, collected here, or its collection lands in the next store's numbers (apart.ts).
  (globalThis as { gc?: () => void }).gc?.();
}

if (args.part || args["one-process"]) {
  for (const store of stores) await measureStore(store);
} else {
  const plain = [
    ...(args.full ? ["--full"] : []),
    ...(args.scenarios ? ["--scenarios", args.scenarios] : []),
    ...(args["no-rewarm"] ? ["--no-rewarm"] : []),
    ...(args["contenders-together"] ? ["--contenders-together"] : []),
  ];
  for (const store of stores) {
    const part = await measureApart(store, plain);
    if (typeof part === "string") {
      console.log(`SKIPPED ${store}: ${part}`);
      skipped.push(`${store}: ${part}`);
      continue;
    }
    rows.push(...part.rows);
    counts.push(...part.counts);
    bursts.push(...part.bursts);
    notComparable.push(...part.notComparable);
    skipped.push(...part.skipped);
    versions.push(...part.versions);
  }
}
if (args.part) {
  writeFileSync(args.part, JSON.stringify({ rows, counts, bursts, notComparable, skipped, versions }));
  process.exit(0);
}

let http: HttpResult[] = [];
if (!args["no-http"]) {
  console.log(`\n[http] ${frameworks.join(", ")}`);
  http = await runHttp(plan.http, runId, frameworks, skipped).catch((error) => {
    console.log(`SKIPPED http: ${(error as Error).message}`);
    skipped.push(`http: ${(error as Error).message}`);
    return [];
  });
}

const ratios = ratioRows(rows);
const command =
  `pnpm bench${plan.mode === "full" ? " --full" : ""}${args["http-only"] ? " --http-only" : ""}` +
  (args.stores ? ` --stores ${args.stores}` : "") +
  (args.scenarios ? ` --scenarios ${args.scenarios}` : "") +
  (args["no-http"] ? " --no-http" : "") +
  (args["no-rewarm"] ? " --no-rewarm" : "") +
  (args["one-process"] ? " --one-process" : "") +
  (args["contenders-together"] ? " --contenders-together" : "") +
  (args.frameworks ? ` --frameworks ${args.frameworks}` : "");
const meta = {
  command,
  mode: plan.mode,
  date: new Date().toISOString(),
  durationSec: Math.round((Date.now() - started) / 1000),
  node: process.version,
  cpu: `${cpus().length} × ${cpus()[0]?.model ?? "?"}`,
  versions,
  plan,
  // Where a store's contenders ran: each in a process of its own, or together in the store's (runner.ts).
  contenders: args["contenders-together"] ? "together" : "apart",
  skipped,
};
const here = dirname(fileURLToPath(import.meta.url));
const out = args.out ?? join(here, "..", "results");
// An HTTP-only run does not overwrite the results of a whole run.
const name = args["http-only"] ? `${plan.mode}-http` : plan.mode;
mkdirSync(out, { recursive: true });
writeFileSync(
  join(out, `${name}.json`),
  `${JSON.stringify({ meta, ratios, counts, bursts, notComparable, http, rows }, null, 1)}\n`,
);
writeFileSync(join(out, `${name}.svg`), renderSvg({ meta, ratios, counts, http }));
printSummary({ meta, ratios, counts, bursts, notComparable, http });
console.log(`\nWrote ${join(out, `${name}.json`)} and ${name}.svg in ${meta.durationSec} s`);
process.exit(0);
