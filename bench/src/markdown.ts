/** Prints the tables of a results file as Markdown, for the README: `tsx src/markdown.ts results/full.json`. */
import { readFileSync } from "node:fs";
import type { CommandCount } from "./counts.js";
import type { HttpResult } from "./http/run.js";
import type { BurstCheck } from "./main.js";
import type { RatioRow } from "./report.js";
import type { Spread } from "./stats.js";

const file = process.argv[2] ?? "results/quick.json";
const r = JSON.parse(readFileSync(file, "utf8")) as {
  meta: { command: string; date: string; node: string; cpu: string; versions: string[]; durationSec: number };
  ratios: RatioRow[];
  counts: CommandCount[];
  bursts: BurstCheck[];
  http: HttpResult[];
};
const f = (s: Spread | undefined) =>
  s && Number.isFinite(s.median) ? `${s.median.toFixed(2)} (${s.min.toFixed(2)}–${s.max.toFixed(2)})` : "–";
const k = (n: number) =>
  n >= 10_000 ? `${(n / 1000).toFixed(0)}k` : n >= 1000 ? `${(n / 1000).toFixed(1)}k` : n.toFixed(0);

console.log(
  `\`${r.meta.command}\`, ${r.meta.date.slice(0, 16).replace("T", " ")} UTC, ${r.meta.durationSec} s; Node ${r.meta.node}, ${r.meta.cpu}; ${r.meta.versions.join(" · ")}.\n`,
);
console.log(
  "Throughput ratio, median (min–max) over interleaved repeats; > 1: the first is faster. idemkit req/s and latency are medians.\n",
);
console.log(
  "| store | scenario | in flight | idemkit ÷ baseline | idemkit ÷ Powertools | idemkit ÷ node-idempotency | idemkit req/s | p50 / p99 ms | Node CPU µs/req: idemkit / baseline |",
);
console.log("|---|---|--:|---|---|---|--:|--:|--:|");
const cpu = (x: RatioRow, name: string) => {
  const c = x.contenders[name]?.cpuUsPerRequest;
  return c && Number.isFinite(c.median) ? c.median.toFixed(1) : "–";
};
for (const x of r.ratios) {
  const i = x.contenders.idemkit;
  console.log(
    `| ${x.store} | ${x.scenario} | ${x.concurrency} | ${f(x.ratios["idemkit/baseline"])} | ${f(x.ratios["idemkit/powertools"])} | ${f(x.ratios["idemkit/node-idempotency"])} | ${i ? k(i.throughput.median) : ""} | ${i ? `${i.p50Ms.median.toFixed(2)} / ${i.p99Ms.median.toFixed(2)}` : ""} | ${cpu(x, "idemkit")} / ${cpu(x, "baseline")} |`,
  );
}
console.log("\nStore round trips per request (commands executed, where they differ):\n");
console.log("| store | library | new key | replay | source |");
console.log("|---|---|---|---|---|");
const names = [...new Set(r.counts.map((c) => `${c.store}|${c.contender}`))];
for (const n of names) {
  const [store, contender] = n.split("|");
  const cell = (kind: string) => {
    const c = r.counts.find((x) => x.store === store && x.contender === contender && x.kind === kind);
    if (!c) return "–";
    const detail = Object.entries(c.detail)
      .map(([name, v]) => `${name} ${Number(v.toFixed(2))}`)
      .join(", ");
    return `**${Number(c.roundTrips.toFixed(2))}**${c.commands !== c.roundTrips ? ` (${Number(c.commands.toFixed(2))} commands)` : ""}${detail ? ` — ${detail}` : ""}`;
  };
  const src = r.counts.find((x) => x.store === store)?.source ?? "";
  console.log(`| ${store} | ${contender} | ${cell("new")} | ${cell("replay")} | ${src} |`);
}
console.log("\nHandler executions in bursts of concurrent duplicates:\n");
console.log("| store | library | burst size | keys | executions | keys run more than once |");
console.log("|---|---|--:|--:|--:|--:|");
for (const b of r.bursts) {
  console.log(
    `| ${b.store} | ${b.contender} | ${b.burstSize} | ${b.keys} | ${b.executions} | ${b.keysRunMoreThanOnce} |`,
  );
}
if (r.http.length > 0) {
  // Results from before the Fastify and node:http servers have Express rows only, without `framework`.
  const fw = (h: HttpResult) => h.framework ?? "express";
  console.log(
    "\nHTTP, autocannon on loopback: req/s ÷ the same framework's route without idempotency, same repeat:\n",
  );
  console.log(
    "| framework | route | scenario | connections | req/s ÷ no idempotency | server CPU µs per request | req/s | p99 ms |",
  );
  console.log("|---|---|---|--:|---|--:|--:|--:|");
  for (const h of r.http) {
    const cpu = h.cpuUsPerRequest ? String(Math.round(h.cpuUsPerRequest.median)) : "–";
    console.log(
      `| ${fw(h)} | ${h.route} | ${h.scenario} | ${h.connections} | ${f(h.ratioToPlain)} | ${cpu} | ${k(h.throughput.median)} | ${h.p99Ms.median} |`,
    );
  }
  const toRun = r.http.filter((h) => h.ratioToRun);
  if (toRun.length > 0) {
    console.log(
      "\nidemkit ÷ idemkit-run (the framework integration against core `run()` in a plain route; target ≥ 0.90), req/s per repeat; server CPU µs per request:\n",
    );
    console.log(
      "| framework | scenario | connections | idemkit ÷ idemkit-run | CPU µs: idemkit / idemkit-run / plain |",
    );
    console.log("|---|---|--:|---|--:|");
    for (const h of toRun) {
      const cpu = (route: string) => {
        const x = r.http.find(
          (y) =>
            fw(y) === fw(h) &&
            y.route === route &&
            y.scenario === h.scenario &&
            y.connections === h.connections,
        );
        return x?.cpuUsPerRequest ? String(Math.round(x.cpuUsPerRequest.median)) : "–";
      };
      console.log(
        `| ${fw(h)} | ${h.scenario} | ${h.connections} | ${f(h.ratioToRun)} | ${cpu("idemkit")} / ${cpu("idemkit-run")} / ${cpu("plain")} |`,
      );
    }
  }
}
