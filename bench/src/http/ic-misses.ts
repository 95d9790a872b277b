/**
 * Where a route's requests miss V8's inline caches: `node --import tsx src/http/ic-misses.ts
 * <route[@checkout]>… [--requests N] [--warmup N] [--top N] [--only <text>] [--framework express|fastify]`
 * runs each side's server (Express by default) with V8's `--log-ic`, warms it up, then logs `requests` new-key requests and prints the misses a request, by
 * the kind of access, the property and the function (its code found in the same log; `--only
 * packages/` keeps idemkit's own functions). Express moves every `req` and `res` onto its app's
 * prototypes as the request comes in, and V8's caches then keep nothing for them: a read on them misses
 * on every request and V8's runtime walks the prototype chain (a few thousand instructions each:
 * `instructions.ts` counts them). Such misses also fill V8's megamorphic cache, so reads of a library's
 * own objects at sites that have seen several shapes miss too. A miss a request in a library's frames is
 * a candidate (twenty-fourth round).
 */
import { readFileSync, rmSync, statSync } from "node:fs";
import { Agent } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { postNewKeys } from "./new-keys.js";
import { deleteKeys, FRAMEWORKS, type Framework, routeAt, startServer, stopServer } from "./run.js";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    requests: { type: "string", default: "300" },
    warmup: { type: "string", default: "6000" },
    top: { type: "string", default: "40" },
    only: { type: "string", default: "" },
    framework: { type: "string", default: "express" },
  },
});
if (positionals.length === 0) throw new Error("usage: ic-misses.ts <route[@checkout]>… [--requests N]");
const framework = values.framework as Framework;
if (!Object.hasOwn(FRAMEWORKS, framework))
  throw new Error(`--framework takes one of ${Object.keys(FRAMEWORKS).join(", ")}, not ${framework}`);
const [requests, warmup, top] = [values.requests, values.warmup, values.top].map(Number) as [
  number,
  number,
  number,
];
for (const [name, value] of Object.entries({ requests, warmup, top })) {
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`--${name} takes a whole number, not ${values[name as keyof typeof values]}`);
}

const runId = `ic-misses-${Date.now()}`;
const CONNECTIONS = 16;
let n = 0;

/** `count` new-key requests to `route`, CONNECTIONS at a time. */
async function load(port: number, route: string, count: number): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  try {
    await postNewKeys(agent, port, route, count, CONNECTIONS, () => `${runId}-${n++}`);
  } finally {
    agent.destroy();
  }
}

interface Code {
  start: number;
  end: number;
  name: string;
  /** Its line in the log: a later code at the same address replaced it. */
  line: number;
}

/** The misses a request in the log's lines from byte `from`, by access, property and function. */
function missesIn(log: string, from: number): Map<string, number> {
  const text = readFileSync(log);
  const lines = text.toString("latin1").split("\n");
  const windowStart = text.subarray(0, from).toString("latin1").split("\n").length - 1;
  const codes: Code[] = [];
  lines.forEach((line, i) => {
    if (!line.startsWith("code-creation,")) return;
    // code-creation,<type>,<kind>,<time>,<address>,<size>,<name>,… (V8 escapes commas in names)
    const f = line.split(",");
    const start = Number.parseInt(f[4] ?? "", 16);
    if (Number.isFinite(start)) codes.push({ start, end: start + Number(f[5]), name: f[6] ?? "?", line: i });
  });
  codes.sort((a, b) => a.start - b.start);
  const functionAt = (pc: number, line: number): string => {
    let lo = 0;
    let hi = codes.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (codes[mid]!.start <= pc) lo = mid + 1;
      else hi = mid - 1;
    }
    let found: Code | undefined;
    for (let k = hi; k >= 0 && k > hi - 300; k--) {
      const code = codes[k]!;
      if (code.start <= pc && pc < code.end && code.line < line && (!found || code.line > found.line))
        found = code;
    }
    return found?.name ?? "?";
  };
  const misses = new Map<string, number>();
  for (let i = windowStart; i < lines.length; i++) {
    // <kind>IC,<pc>,<time>,<line>,<column>,<old state>,<new state>,<map>,<key>,…
    const f = lines[i]!.split(",");
    if (!f[0]?.endsWith("IC")) continue;
    const where = functionAt(Number.parseInt(f[1] ?? "", 16), i).replace(/^JS:[*~^+]?/, "");
    const key = `${f[0]} ${f[8]} in ${where}`;
    misses.set(key, (misses.get(key) ?? 0) + 1);
  }
  return misses;
}

try {
  for (const written of positionals) {
    const { route, checkout } = routeAt(written);
    const log = join(tmpdir(), `${runId}-${route}.log`);
    const server = await startServer(
      framework,
      runId,
      false,
      ["--log-ic", `--logfile=${log}`, "--no-logfile-per-isolate"],
      checkout || undefined,
    );
    try {
      await load(server.port, route, warmup);
      await sleep(500); // what the warm-up's last requests log, before the count begins
      const from = statSync(log).size;
      await load(server.port, route, requests);
      await sleep(500);
      const misses = missesIn(log, from);
      const total = [...misses.values()].reduce((a, b) => a + b, 0);
      console.log(`${written}: ${(total / requests).toFixed(1)} inline-cache misses a request`);
      const shown = [...misses].filter(([key]) => key.includes(values.only));
      for (const [key, count] of shown.sort((a, b) => b[1] - a[1]).slice(0, top))
        console.log(`  ${(count / requests).toFixed(2)}  ${key}`);
    } finally {
      await stopServer(server.child);
      rmSync(log, { force: true });
    }
  }
} finally {
  await deleteKeys(runId);
}
