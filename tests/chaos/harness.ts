// The chaos harness: worker processes over one shared store, a client driver doing retries and
// duplicates on a few hot keys, and faults injected while it runs, each bounded in count and time.
import { type ChildProcess, fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { composeStoredKey, type IdempotencyRecord, type IdempotencyStore } from "@idemkit/core";
import { type CheckResult, type ClientEntry, check, type Route } from "./checker.js";
import type { FaultProxy } from "./proxy.js";
import type { ThrowawayServer } from "./servers.js";
import { checkTransactional } from "./tx-checker.js";
import type { LedgerEntry, WorkerConfig } from "./worker.js";

const here = dirname(fileURLToPath(import.meta.url));
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export const SOAK = process.env.CHAOS_SOAK === "1" || process.env.CHAOS_SOAK === "true";

/** Lease timing of every worker: short, so takeovers happen within a short run. */
export const timing = { leaseMs: 1000, heartbeatMs: 300, storeTimeoutMs: 800, handlerMs: 150 };

export type Fault =
  | "none"
  | "worker SIGKILL"
  | "worker SIGSTOP"
  | "store restart"
  | "proxy delay"
  | "proxy blackhole"
  | "proxy reset"
  | "proxy drop reply"
  /** Transactional mode (POST /tx, PostgreSQL only): the backend of a running transaction is terminated. */
  | "backend terminated mid-transaction";

interface WorkerHandle {
  id: string;
  child: ChildProcess;
  port: number;
  stopped: boolean;
  dead: boolean;
  /** Killed by the harness (SIGKILL fault, close): its exit is no crash. */
  killed: boolean;
  stderr: string;
}

/** The worker processes of one store group; killed ones are replaced by fresh ones. */
export class Cluster {
  readonly workers = new Map<string, WorkerHandle>();
  /** Workers that exited without the harness killing them, with their exit and last stderr. */
  readonly crashes: string[] = [];
  #closing = false;
  #next = 0;
  #onExec: ((w: WorkerHandle, key: string, fence: number, pid?: number) => void) | undefined;

  constructor(
    readonly base: Omit<WorkerConfig, "id" | "ledger">,
    readonly dir: string,
  ) {}

  onExec(listener: ((w: WorkerHandle, key: string, fence: number, pid?: number) => void) | undefined): void {
    this.#onExec = listener;
  }

  async spawn(): Promise<WorkerHandle> {
    const id = `w${++this.#next}`;
    const config: WorkerConfig = { ...this.base, id, ledger: join(this.dir, `${id}.ledger.jsonl`) };
    const child = fork(join(here, "worker.ts"), [JSON.stringify(config)], {
      execArgv: ["--import", "tsx"],
      cwd: join(here, ".."),
      stdio: ["ignore", "ignore", "pipe", "ipc"],
    });
    const handle: WorkerHandle = {
      id,
      child,
      port: 0,
      stopped: false,
      dead: false,
      killed: false,
      stderr: "",
    };
    child.stderr?.on("data", (d: Buffer) => {
      handle.stderr = (handle.stderr + d.toString()).slice(-2000);
    });
    child.on("exit", (code, signal) => {
      handle.dead = true;
      const crashed = !handle.killed && this.workers.has(id);
      this.workers.delete(id);
      if (crashed) {
        const lines = handle.stderr.split("\n");
        const why = lines.find((l) => /error/i.test(l)) ?? lines.at(-1);
        this.crashes.push(`${id} exited (${signal ?? code}): ${why?.trim().slice(0, 300)}`);
        // Replaced, as a supervisor would, so that the run goes on and the checker reports the crash.
        if (!this.#closing) this.spawn().catch(() => {});
      }
    });
    child.on("message", (m: { type: string; port?: number; key?: string; fence?: number; pid?: number }) => {
      if (m.type === "exec") this.#onExec?.(handle, m.key as string, m.fence as number, m.pid);
    });
    handle.port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`worker ${id} did not start: ${handle.stderr}`)),
        30_000,
      );
      child.on("message", (m: { type: string; port?: number }) => {
        if (m.type === "ready") {
          clearTimeout(timer);
          resolve(m.port as number);
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`worker ${id} exited (${code}) before it was ready: ${handle.stderr}`));
      });
    });
    this.workers.set(id, handle);
    return handle;
  }

  /** A worker for the next request: any running one, stopped ones included (clients cannot tell). */
  pick(): WorkerHandle | undefined {
    const all = [...this.workers.values()].filter((w) => !w.dead);
    return all[Math.floor(Math.random() * all.length)];
  }

  async kill(w: WorkerHandle): Promise<void> {
    if (w.dead) return;
    w.killed = true;
    const gone = new Promise((resolve) => w.child.once("exit", resolve));
    w.child.kill("SIGKILL");
    await gone;
  }

  /** Pauses a worker for `ms` (SIGSTOP … SIGCONT): its lease runs out while it cannot tell. */
  async pause(w: WorkerHandle, ms: number): Promise<void> {
    if (w.dead) return;
    w.stopped = true;
    w.child.kill("SIGSTOP");
    await sleep(ms);
    if (!w.dead) w.child.kill("SIGCONT");
    w.stopped = false;
  }

  /** Waits (bounded) until no worker has a request in flight. */
  async idle(timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const counts = await Promise.all(
        [...this.workers.values()].map(
          (w) =>
            new Promise<number>((resolve) => {
              const timer = setTimeout(() => resolve(1), 1000);
              const listener = (m: { type: string; inFlight?: number }) => {
                if (m.type !== "idle") return;
                clearTimeout(timer);
                w.child.off("message", listener);
                resolve(m.inFlight ?? 0);
              };
              w.child.on("message", listener);
              try {
                w.child.send({ type: "idle?" });
              } catch {
                clearTimeout(timer);
                resolve(0);
              }
            }),
        ),
      );
      if (counts.every((n) => n === 0)) return;
      await sleep(200);
    }
  }

  ledgers(): LedgerEntry[][] {
    return readdirSync(this.dir)
      .filter((f) => f.endsWith(".ledger.jsonl"))
      .map((f) =>
        readFileSync(join(this.dir, f), "utf8")
          .split("\n")
          .filter((line) => line.trim() !== "")
          .map((line) => JSON.parse(line) as LedgerEntry),
      );
  }

  async close(): Promise<void> {
    this.#closing = true;
    for (const w of [...this.workers.values()]) {
      if (w.stopped) w.child.kill("SIGCONT");
      await this.kill(w);
    }
  }
}

export interface GroupContext {
  cluster: Cluster;
  /** A direct connection to the store (no proxy) for the final read. */
  store: IdempotencyStore;
  proxy?: FaultProxy;
  server?: ThrowawayServer;
  /** Transactional mode (PostgreSQL): a direct connection to terminate backends and read business rows. */
  transactional?: {
    /** Terminates the backend `pid`; `true` when it was inside a transaction (or running a statement). */
    terminate(pid: number): Promise<boolean>;
    /** The business rows committed for each stored key. */
    committed(storedKeys: string[]): Promise<Map<string, { execId: string; w: string }[]>>;
  };
}

export interface ScenarioResult extends CheckResult {
  /** Transactional mode: transactions whose connection a worker saw die (in its work, or in the store). */
  cut?: number;
  store: string;
  fault: Fault;
  injected: number;
  seconds: number;
}

const size = SOAK
  ? { keys: 160, parallel: 6, duplicates: 3, budget: 8 }
  : { keys: 10, parallel: 4, duplicates: 3, budget: 1 };

/** The key as the workers store it: HTTP requests and `run()` calls live in separate namespaces. */
const storedKeyOf = (key: string, route: Route) =>
  composeStoredKey("idem:", route === "jobs" ? "run" : "http", "", key);

/** Sends one request for a key to some worker; never throws. */
async function send(ctx: GroupContext, key: string, route: Route, probe = false): Promise<ClientEntry> {
  const storedKey = storedKeyOf(key, route);
  const entry = { key, storedKey, route, probe, t: Date.now() };
  const w = ctx.cluster.pick();
  if (!w) return { ...entry, status: 0, body: "no worker", replayed: false };
  try {
    const res = await fetch(`http://127.0.0.1:${w.port}/${route}`, {
      method: "POST",
      headers: { "idempotency-key": key, "content-type": "application/json" },
      body: JSON.stringify({ item: key, qty: 1 }),
      signal: AbortSignal.timeout(5000),
    });
    const body = await res.text();
    return {
      ...entry,
      status: res.status,
      body,
      replayed: res.headers.get("idempotent-replayed") === "true",
    };
  } catch (error) {
    return { ...entry, status: 0, body: String((error as Error).message ?? error), replayed: false };
  }
}

/** One client: retries a key until a 2xx (or its bound), with a little backoff. */
async function client(ctx: GroupContext, key: string, route: Route, log: ClientEntry[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (let attempt = 0; attempt < 80 && Date.now() < deadline; attempt++) {
    const entry = await send(ctx, key, route);
    log.push(entry);
    if (entry.status >= 200 && entry.status < 300) return;
    if (entry.status === 422 || entry.status === 500) return;
    await sleep(40 + Math.random() * 160);
  }
}

type Injector = (ctx: GroupContext, done: () => boolean) => Promise<number>;

/** Faults triggered by timers while the driver runs, each bounded in count and duration. */
function timed(count: number, gapMs: number, act: (ctx: GroupContext) => Promise<void> | void): Injector {
  return async (ctx, done) => {
    let n = 0;
    for (let i = 0; i < count && !done(); i++) {
      await sleep(gapMs * (0.5 + Math.random()));
      if (done()) break;
      await act(ctx);
      n++;
    }
    return n;
  };
}

/** Faults that strike a worker right after a handler started (between claim and completion). */
function onExecution(
  count: number,
  act: (ctx: GroupContext, w: WorkerHandle, pid?: number) => Promise<void>,
): Injector {
  return async (ctx, done) => {
    let n = 0;
    const pending: Promise<void>[] = [];
    ctx.cluster.onExec((w, _key, _fence, pid) => {
      if (n >= count || done() || w.stopped || Math.random() < 0.5) return;
      n++;
      pending.push(act(ctx, w, pid));
    });
    while (!done() && n < count) await sleep(50);
    ctx.cluster.onExec(undefined);
    await Promise.all(pending);
    return n;
  };
}

export const injectors: Record<Fault, (budget: number) => Injector> = {
  none: () => async () => 0,
  "worker SIGKILL": (budget) =>
    onExecution(2 * budget, async (ctx, w) => {
      await ctx.cluster.kill(w);
      await ctx.cluster.spawn();
    }),
  "worker SIGSTOP": (budget) => onExecution(budget, (ctx, w) => ctx.cluster.pause(w, timing.leaseMs + 700)),
  "store restart": (budget) =>
    timed(budget, 800, async (ctx) => {
      await ctx.server?.kill();
      await sleep(800);
      await ctx.server?.start();
    }),
  "proxy delay": (budget) =>
    timed(budget, 600, async (ctx) => {
      ctx.proxy?.delay(250);
      await sleep(2000);
      ctx.proxy?.delay(0);
    }),
  "proxy blackhole": (budget) =>
    timed(budget, 800, async (ctx) => {
      await ctx.proxy?.blackhole(timing.leaseMs + 500);
    }),
  "proxy reset": (budget) =>
    timed(3 * budget, 500, (ctx) => {
      ctx.proxy?.resetAll();
    }),
  "proxy drop reply": (budget) =>
    timed(4 * budget, 400, (ctx) => {
      ctx.proxy?.dropNextReplies(1);
    }),
  "backend terminated mid-transaction": (budget) =>
    onExecution(4 * budget, async (ctx, _w, pid) => {
      if (pid !== undefined) await ctx.transactional?.terminate(pid);
    }),
};

/** The longest fault a key may sit behind, for the 409-streak bound. */
const longestFaultMs = timing.leaseMs + 2500;

export async function runScenario(
  storeName: string,
  ctx: GroupContext,
  fault: Fault,
): Promise<ScenarioResult> {
  const started = Date.now();
  // The cluster outlives a scenario: only this scenario's crashes count against it.
  const crashesBefore = ctx.cluster.crashes.length;
  const run = randomBytes(3).toString("hex");
  const keys: { key: string; route: Route }[] = [];
  // Transactional mode has its own route and its own checker (exactly once, no lease).
  const transactional = fault === "backend terminated mid-transaction";
  const log: ClientEntry[] = [];
  // Injection ends when its budget is spent, or at this hard stop.
  const hardStop = started + (SOAK ? 900_000 : 25_000);
  let injecting = true;
  const injection = injectors[fault](size.budget)(ctx, () => Date.now() > hardStop).finally(() => {
    injecting = false;
  });
  // Awaited once the clients are done; a fault that fails before then (a store that would not restart)
  // fails the scenario there, not as an unhandled rejection of the whole run.
  injection.catch(() => {});
  // Fresh keys keep coming while a fault is still due (up to a cap), so every fault meets traffic.
  const nextKey = () => {
    if (keys.length >= size.keys && !(injecting && keys.length < size.keys * 8)) return undefined;
    const i = keys.length;
    const route: Route = transactional ? "tx" : i % 2 === 0 ? "orders" : "jobs";
    const entry = {
      key: `chaos-${run}-${route === "orders" ? "order" : route === "jobs" ? "job" : "tx"}-${i}`,
      route,
    };
    keys.push(entry);
    return entry;
  };

  // Hot keys, a few at a time; each hit by several duplicate clients, staggered a little.
  await Promise.all(
    Array.from({ length: size.parallel }, async () => {
      for (let next = nextKey(); next; next = nextKey()) {
        const { key, route } = next;
        await Promise.all(
          Array.from({ length: size.duplicates }, async (_, d) => {
            await sleep(d * Math.random() * 120);
            await client(ctx, key, route, log);
          }),
        );
      }
    }),
  );
  const injected = await injection;
  ctx.proxy?.delay(0);
  for (const w of ctx.cluster.workers.values()) if (w.stopped) w.child.kill("SIGCONT");

  // Let every fault heal and every abandoned lease run out, then probe each key once more.
  await ctx.cluster.idle();
  await sleep(timing.leaseMs + 500);
  for (const { key, route } of keys) {
    for (let attempt = 0; attempt < 20; attempt++) {
      const entry = await send(ctx, key, route, true);
      log.push(entry);
      if (entry.status >= 200 && entry.status < 300) break;
      await sleep(200);
    }
  }
  await ctx.cluster.idle();

  const final = new Map<string, IdempotencyRecord | undefined>();
  for (const { key, route } of keys) {
    const storedKey = storedKeyOf(key, route);
    for (let attempt = 0; ; attempt++) {
      try {
        final.set(storedKey, await ctx.store.get(storedKey));
        break;
      } catch (error) {
        if (attempt >= 10) throw error;
        await sleep(300);
      }
    }
  }
  const wanted = new Set(final.keys());
  const ledgers = ctx.cluster.ledgers().map((l) => l.filter((e) => wanted.has(e.key)));
  if (transactional) {
    if (!ctx.transactional) throw new Error(`${storeName}: no transactional mode for ${fault}`);
    const result = checkTransactional({
      ledgers,
      client: log,
      final,
      committed: await ctx.transactional.committed([...wanted]),
      crashes: ctx.cluster.crashes.slice(crashesBefore),
    });
    return { ...result, store: storeName, fault, injected, seconds: (Date.now() - started) / 1000 };
  }
  const result = check({
    ledgers,
    client: log,
    final,
    maxConflictStreakMs: 2 * timing.leaseMs + longestFaultMs + 4000,
    crashes: ctx.cluster.crashes.slice(crashesBefore),
  });
  return { ...result, store: storeName, fault, injected, seconds: (Date.now() - started) / 1000 };
}

export function formatTable(results: ScenarioResult[]): string {
  const head = [
    "store",
    "fault",
    "injected",
    "keys",
    "requests",
    "executions",
    "takeovers",
    "unacked 2xx",
    "violations",
    "s",
  ];
  const rows = results.map((r) => [
    r.store,
    r.fault,
    String(r.injected),
    String(r.keys),
    String(r.requests),
    String(r.executions),
    String(r.takeovers),
    String(r.unackedAnswers),
    String(r.violations.length),
    r.seconds.toFixed(1),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] as string).length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] as number)).join(" | ")} |`;
  return [line(head), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

export const workerEntry = join(here, "worker.ts");
export const haveWorker = existsSync(workerEntry);
