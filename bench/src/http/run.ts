import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createRequire } from "node:module";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { Redis } from "ioredis";
import { REDIS_URL } from "../setup.js";
import { type Spread, spread } from "../stats.js";

export interface HttpResult {
  route: string;
  scenario: "new" | "replay";
  connections: number;
  throughput: Spread;
  p50Ms: Spread;
  p99Ms: Spread;
  /** Per repeat: this route's req/s ÷ the plain route's in the same repeat. */
  ratioToPlain: Spread;
  /** The server process' CPU time (user + system, all threads) per request, µs. */
  cpuUsPerRequest: Spread;
  /** Per repeat: the plain route's CPU per request ÷ this route's (> 1: cheaper than the plain route). */
  cpuRatioToPlain: Spread;
  non2xx: number;
  note?: string;
}

const ROUTES = ["plain", "idemkit", "idemkit-run", "powertools", "node-idempotency"] as const;
const BODY = JSON.stringify({ amount: 4200, currency: "EUR" });

async function startServer(runId: string): Promise<{ child: ChildProcess; port: number; pinned: boolean }> {
  const here = dirname(fileURLToPath(import.meta.url));
  const tsx = join(dirname(createRequire(import.meta.url).resolve("tsx/package.json")), "dist", "cli.mjs");
  const args = [tsx, join(here, "server.ts"), REDIS_URL, runId];
  // On Linux with taskset, the server gets core 0 and this process (autocannon) the others, so the
  // load generator does not take the server's CPU; CPU per request is measured either way.
  const pinned = canPin();
  if (pinned)
    execFileSync("taskset", ["-acp", `1-${cpus().length - 1}`, String(process.pid)], { stdio: "ignore" });
  const child = pinned
    ? spawn("taskset", ["-c", "0", process.execPath, ...args], { stdio: ["ignore", "pipe", "inherit"] })
    : spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error("the HTTP bench server did not start within 20 s")),
      20_000,
    );
    child.stdout!.on("data", (chunk: Buffer) => {
      const m = /listening (\d+)/.exec(String(chunk));
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once("exit", (code) => reject(new Error(`the HTTP bench server exited with ${code}`)));
  });
  return { child, port, pinned };
}

function canPin(): boolean {
  if (process.platform !== "linux" || cpus().length < 2) return false;
  try {
    execFileSync("taskset", ["-p", String(process.pid)], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

async function serverCpuUs(port: number): Promise<number> {
  const reply = await fetch(`http://127.0.0.1:${port}/__cpu`);
  return ((await reply.json()) as { cpuUs: number }).cpuUs;
}

function cannon(
  port: number,
  route: string,
  connections: number,
  durationSec: number,
  nextKey: () => string,
) {
  return autocannon({
    url: `http://127.0.0.1:${port}/${route}`,
    method: "POST",
    connections,
    duration: durationSec,
    headers: { "content-type": "application/json" },
    body: BODY,
    requests: [
      {
        setupRequest: (req) => ({
          ...req,
          headers: { ...req.headers, "idempotency-key": nextKey() },
        }),
      },
    ],
  });
}

/**
 * The same POST route with no idempotency, with idemkit and with each peer, on one Express server
 * in a child process, driven by autocannon on loopback; routes interleaved within each repeat.
 */
export async function runHttp(
  plan: { durationSec: number; connections: number[]; repeats: number },
  runId: string,
): Promise<HttpResult[]> {
  const { child, port, pinned } = await startServer(runId);
  const results: HttpResult[] = [];
  try {
    const replayKeys = Array.from({ length: 200 }, (_, i) => `${runId}-replay-${i}`);
    for (const scenario of ["new", "replay"] as const) {
      for (const connections of plan.connections) {
        const samples = new Map<
          string,
          { rps: number; p50: number; p99: number; non2xx: number; cpuPerRequest: number }[]
        >();
        // Warm-up (and, for replays, store every replay key once on every route).
        for (const route of ROUTES) {
          let n = 0;
          const key = () =>
            scenario === "replay" ? replayKeys[n++ % replayKeys.length]! : `${runId}-w-${route}-${n++}`;
          await cannon(port, route, connections, 1, key);
        }
        for (let repeat = 0; repeat < plan.repeats; repeat++) {
          const order = ROUTES.map((_, i) => ROUTES[(i + repeat) % ROUTES.length]!);
          for (const route of order) {
            let n = 0;
            const key = () =>
              scenario === "replay"
                ? replayKeys[n++ % replayKeys.length]!
                : `${runId}-${route}-${connections}-${repeat}-${n++}`;
            const cpuBefore = await serverCpuUs(port);
            const r = await cannon(port, route, connections, plan.durationSec, key);
            const cpuPerRequest = (await serverCpuUs(port)) - cpuBefore;
            const list = samples.get(route) ?? [];
            list.push({
              rps: r.requests.average,
              p50: r.latency.p50,
              p99: r.latency.p99,
              non2xx: r.non2xx,
              cpuPerRequest: cpuPerRequest / Math.max(1, r.requests.total),
            });
            samples.set(route, list);
          }
        }
        const plain = samples.get("plain")!;
        for (const route of ROUTES) {
          const s = samples.get(route)!;
          results.push({
            route,
            scenario,
            connections,
            throughput: spread(s.map((x) => x.rps)),
            p50Ms: spread(s.map((x) => x.p50)),
            p99Ms: spread(s.map((x) => x.p99)),
            ratioToPlain: spread(s.map((x, i) => x.rps / plain[i]!.rps)),
            cpuUsPerRequest: spread(s.map((x) => x.cpuPerRequest)),
            cpuRatioToPlain: spread(s.map((x, i) => plain[i]!.cpuPerRequest / x.cpuPerRequest)),
            non2xx: s.reduce((a, x) => a + x.non2xx, 0),
            ...(route === "powertools" ? { note: "makeIdempotent in the route; no HTTP integration" } : {}),
            ...(route === "node-idempotency" ? { note: "its onRequest/onResponse hooks in the route" } : {}),
            ...(route === "idemkit" ? { note: "@idemkit/express middleware" } : {}),
            ...(route === "idemkit-run"
              ? { note: "reference: core run() inside a plain route, no HTTP layer" }
              : {}),
          });
        }
        console.log(`  ${scenario} c=${connections} done`);
      }
    }
  } finally {
    if (pinned)
      execFileSync("taskset", ["-acp", `0-${cpus().length - 1}`, String(process.pid)], { stdio: "ignore" });
    child.kill("SIGTERM");
    await new Promise((resolve) => child.once("exit", resolve));
    const client = new Redis(REDIS_URL);
    let cursor = "0";
    for (let i = 0; i < 100_000; i++) {
      const [next, keys] = await client.scan(cursor, "MATCH", `*${runId}*`, "COUNT", 1000);
      if (keys.length > 0) await client.unlink(...keys);
      cursor = next;
      if (cursor === "0") break;
    }
    client.disconnect();
  }
  return results;
}
