import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { Redis } from "ioredis";
import { deleteKeys as deleteMatching, REDIS_URL } from "../setup.js";
import { type Spread, spread } from "../stats.js";

export interface HttpResult {
  /** The server's framework: each has its own `server-<framework>.ts`, run in turn. */
  framework: Framework;
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
  /**
   * On the `idemkit` row: per repeat, its req/s ÷ the `idemkit-run` reference's in the same repeat
   * (what the framework integration keeps of the engine's throughput; the target is ≥ 0.90).
   */
  ratioToRun?: Spread;
  non2xx: number;
  note?: string;
}

/** The routes of each framework's server; `plain` first, the one every ratio is taken to. */
export const FRAMEWORKS = {
  express: ["plain", "idemkit", "idemkit-run", "idemkit-node-redis", "powertools", "node-idempotency"],
  fastify: ["plain", "idemkit", "idemkit-run"],
  node: ["plain", "idemkit", "idemkit-run"],
} as const satisfies Record<string, readonly string[]>;
export type Framework = keyof typeof FRAMEWORKS;

const NOTES: Record<string, string> = {
  "express/idemkit": "@idemkit/express middleware on the route",
  "fastify/idemkit": "@idemkit/fastify plugin in an encapsulated context holding the route",
  "node/idemkit": "@idemkit/node idempotentListener around the bare listener",
  "idemkit-run": "reference: core run() inside a plain route, no HTTP layer",
  "idemkit-node-redis":
    "@idemkit/express middleware on the route, its store on node-redis (as node-idempotency's)",
  powertools: "makeIdempotent in the route; no HTTP integration",
  "node-idempotency": "its onRequest/onResponse hooks in the route",
};

/** The order every bench request posts. */
export const BODY = JSON.stringify({ amount: 4200, currency: "EUR" });

/** Node's arguments that make a server write a CPU profile into `dir` (none without one). */
export const profileArgs = (dir: string | undefined) => (dir ? ["--cpu-prof", `--cpu-prof-dir=${dir}`] : []);

/** Node's arguments that make a server sample its allocations into `file` (heap-sampling.cjs reads it from the environment). */
export const heapSamplingArgs = (file: string | undefined) =>
  file ? ["--require", fileURLToPath(new URL("heap-sampling.cjs", import.meta.url))] : [];

/**
 * A route as the HTTP tools take it, `<route>` or `<route>@<checkout>`: the route, and the checkout whose
 * server serves it (`""` for this one).
 */
export function routeAt(written: string): { route: string; checkout: string } {
  const at = written.indexOf("@");
  return at === -1
    ? { route: written, checkout: "" }
    : { route: written.slice(0, at), checkout: written.slice(at + 1) };
}

/** How the server is started beyond `startServer`'s defaults. */
export interface Launch {
  /** A command the server runs under, before Node (`valgrind …`: instructions.ts). */
  under?: string[];
  /** How long it may take to listen (default 20 s). */
  startMs?: number;
}

/**
 * Starts `server-<framework>.ts` in a child process (on core 0 when `pinned`) and waits for its port;
 * the server of another checkout of the repository when `checkout` is given (its own build, for
 * comparing builds).
 */
export async function startServer(
  framework: Framework,
  runId: string,
  pinned: boolean,
  nodeArgs: string[] = [],
  checkout?: string,
  { under = [], startMs = 20_000 }: Launch = {},
): Promise<{ child: ChildProcess; port: number }> {
  const here = checkout ? join(checkout, "bench/src/http") : dirname(fileURLToPath(import.meta.url));
  // `--import tsx`, not tsx's CLI: the CLI runs the script in a child process of its own, which neither
  // `nodeArgs` (`--cpu-prof`) nor the pin's measurement of this process would reach.
  const args = [...nodeArgs, "--import", "tsx", join(here, `server-${framework}.ts`), REDIS_URL, runId];
  const [command, ...rest] = [...(pinned ? ["taskset", "-c", "0"] : []), ...under, process.execPath, ...args];
  const child = spawn(command!, rest, { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the ${framework} bench server did not start within ${startMs / 1000} s`)),
      startMs,
    );
    child.stdout!.on("data", (chunk: Buffer) => {
      const m = /listening (\d+)/.exec(String(chunk));
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once("exit", (code) => reject(new Error(`the ${framework} bench server exited with ${code}`)));
  }).catch(async (error: unknown) => {
    await stopServer(child);
    throw error;
  });
  return { child, port };
}

/** Moves this process (all its threads) to `cores`, a taskset list. */
const pinTo = (cores: string) =>
  execFileSync("taskset", ["-acp", cores, String(process.pid)], { stdio: "ignore" });

/**
 * Where taskset works, moves this process (the load) off core 0, which `startServer` gives the server,
 * so the load does not take the server's CPU; returns whether it did (CPU per request is measured either
 * way).
 */
export function pinLoadOffServerCore(): boolean {
  if (!canPin()) return false;
  pinTo(`1-${cpus().length - 1}`);
  return true;
}

export function canPin(): boolean {
  if (process.platform !== "linux" || cpus().length < 2) return false;
  try {
    execFileSync("taskset", ["-p", String(process.pid)], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

export async function serverCpuUs(port: number): Promise<number> {
  return (await serverCpu(port)).cpuUs;
}

/** The server's CPU time and the part of it spent in garbage collections' pauses (µs, since it started). */
export async function serverCpu(port: number): Promise<{ cpuUs: number; gcUs: number }> {
  const reply = await fetch(`http://127.0.0.1:${port}/__cpu`);
  return (await reply.json()) as { cpuUs: number; gcUs: number };
}

export function cannon(
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
 * Each framework's server in turn, in a child process, driven by autocannon on loopback: every route
 * of that server (the same POST with no idempotency, with idemkit, with the `idemkit-run` reference
 * and, on Express, with each peer), interleaved within each repeat. A framework whose server fails is
 * skipped (reason pushed to `skipped`); the others still run.
 */
export async function runHttp(
  plan: { durationSec: number; connections: number[]; repeats: number },
  runId: string,
  frameworks: readonly Framework[],
  skipped: string[],
): Promise<HttpResult[]> {
  // On Linux with taskset, the server gets core 0 and this process (autocannon) the others, so the
  // load generator does not take the server's CPU; CPU per request is measured either way.
  const pinned = pinLoadOffServerCore();
  const results: HttpResult[] = [];
  try {
    for (const framework of frameworks) {
      const t0 = Date.now();
      let server: { child: ChildProcess; port: number } | undefined;
      try {
        server = await startServer(framework, runId, pinned);
        results.push(...(await measureFramework(framework, server.port, plan, runId)));
        console.log(`  ${framework}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      } catch (error) {
        console.log(`SKIPPED http ${framework}: ${(error as Error).message}`);
        skipped.push(`http ${framework}: ${(error as Error).message}`);
      } finally {
        if (server) await stopServer(server.child);
      }
    }
  } finally {
    if (pinned) pinTo(`0-${cpus().length - 1}`);
    await deleteKeys(runId);
  }
  return results;
}

async function measureFramework(
  framework: Framework,
  port: number,
  plan: { durationSec: number; connections: number[]; repeats: number },
  runId: string,
): Promise<HttpResult[]> {
  const routes: readonly string[] = FRAMEWORKS[framework];
  const results: HttpResult[] = [];
  const replayKeys = Array.from({ length: 200 }, (_, i) => `${runId}-${framework}-replay-${i}`);
  for (const scenario of ["new", "replay"] as const) {
    for (const connections of plan.connections) {
      const samples = new Map<
        string,
        { rps: number; p50: number; p99: number; non2xx: number; cpuPerRequest: number }[]
      >();
      // Warm-up (and, for replays, store every replay key once on every route).
      for (const route of routes) {
        let n = 0;
        const key = () =>
          scenario === "replay"
            ? replayKeys[n++ % replayKeys.length]!
            : `${runId}-${framework}-w-${route}-${n++}`;
        await cannon(port, route, connections, 1, key);
      }
      for (let repeat = 0; repeat < plan.repeats; repeat++) {
        // Interleave: rotate the order every repeat so drift hits every route alike.
        const order = routes.map((_, i) => routes[(i + repeat) % routes.length]!);
        for (const route of order) {
          let n = 0;
          const key = () =>
            scenario === "replay"
              ? replayKeys[n++ % replayKeys.length]!
              : `${runId}-${framework}-${route}-${connections}-${repeat}-${n++}`;
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
      const run = samples.get("idemkit-run")!;
      for (const route of routes) {
        const s = samples.get(route)!;
        const note = NOTES[`${framework}/${route}`] ?? NOTES[route];
        results.push({
          framework,
          route,
          scenario,
          connections,
          throughput: spread(s.map((x) => x.rps)),
          p50Ms: spread(s.map((x) => x.p50)),
          p99Ms: spread(s.map((x) => x.p99)),
          ratioToPlain: spread(s.map((x, i) => x.rps / plain[i]!.rps)),
          cpuUsPerRequest: spread(s.map((x) => x.cpuPerRequest)),
          cpuRatioToPlain: spread(s.map((x, i) => plain[i]!.cpuPerRequest / x.cpuPerRequest)),
          ...(route === "idemkit" ? { ratioToRun: spread(s.map((x, i) => x.rps / run[i]!.rps)) } : {}),
          non2xx: s.reduce((a, x) => a + x.non2xx, 0),
          ...(note ? { note } : {}),
        });
      }
      console.log(`  ${framework} ${scenario} c=${connections} done`);
    }
  }
  return results;
}

export async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await exited;
}

/** Deletes every key of this run (all frameworks, all libraries) from the bench's Redis database. */
export async function deleteKeys(runId: string): Promise<void> {
  const client = new Redis(REDIS_URL);
  try {
    await deleteMatching(client, `*${runId}*`);
  } finally {
    client.disconnect();
  }
}
