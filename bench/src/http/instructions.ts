/**
 * Instructions a request costs a route's server, counted by Valgrind's callgrind: a measure that does
 * not move with the machine's speed, for changes too small for req/s in turns (`interleave.ts` reads
 * two builds within ±4% of each other on these machines; one item of the HTTP path is 1-3 µs of ~250).
 * `node --import tsx src/http/instructions.ts <route[@checkout]>… [--requests N] [--warmup N]
 * [--rewarm N] [--connections N] [--repeats N] [--framework express|fastify]` starts each side's server
 * (Express by default) under callgrind
 * (instrumentation off) and warms it up; then, `repeats` times in turn with the other sides, it has the
 * server collect its garbage (`/__gc`), compiles again with `rewarm` requests what that dropped, and
 * counts `requests` new keys. It prints each side's instructions a request on the main thread (the one a
 * request waits for) and on all threads (the collector's and compilers' helpers too, which Valgrind runs
 * in turns: 5–20% apart), with their ratios to the first side's. On the main thread two checkouts of the
 * same code read within 0.5% in one run, but a side's counts spread up to ~1.8% and its median moves ~1%
 * from run to run: compare sides within a run, and an item under ~1% over several runs in both orders.
 * Run it on an otherwise idle machine (a server starved under Valgrind can miss its deadlines).
 * What it leaves out: the kernel's share (a socket write, a wake-up) and the cache misses and stalls of a
 * real CPU. A Redis route's replies come as fast as ever to a server ~50× slower, so its writes batch
 * otherwise: `idemkit-at-once` (a store that answers at once) counts the HTTP path's own work.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { Agent, get } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { median } from "../stats.js";
import { postNewKeys } from "./new-keys.js";
import { deleteKeys, type Framework, routeAt, startServer, stopServer } from "./run.js";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    requests: { type: "string", default: "2000" },
    warmup: { type: "string", default: "6000" },
    connections: { type: "string", default: "16" },
    repeats: { type: "string", default: "3" },
    rewarm: { type: "string", default: "1500" },
    framework: { type: "string", default: "express" },
  },
});
if (positionals.length === 0) throw new Error("usage: instructions.ts <route[@checkout]>… [--requests N]");
const [requests, warmup, connections, repeats, rewarm] = [
  values.requests,
  values.warmup,
  values.connections,
  values.repeats,
  values.rewarm,
].map(Number) as [number, number, number, number, number];
for (const [name, value] of Object.entries({ requests, warmup, connections, repeats, rewarm })) {
  if (!Number.isInteger(value) || value < (name === "rewarm" ? 0 : 1))
    throw new Error(`--${name} takes a whole number, not ${values[name as keyof typeof values]}`);
}

const framework = values.framework as Framework;
if (framework !== "express" && framework !== "fastify")
  throw new Error(`--framework takes express or fastify (the servers with /__gc), not ${framework}`);

const runId = `instructions-${Date.now()}`;
const out = mkdtempSync(join(tmpdir(), "idemkit-callgrind-"));
const sides = positionals.map((written) => ({ name: written, ...routeAt(written) }));

/** A dump file's name, `callgrind.<pid>.<dump>-<thread>` (one file a thread): its dump and thread. */
const dump = (name: string) => /^callgrind\.\d+\.(\d+)-(\d+)$/.exec(name);

/** `callgrind_control <args> <pid>`'s output. */
const control = (pid: number, ...args: string[]) =>
  execFileSync("callgrind_control", [...args, String(pid)], { encoding: "utf8" });

/**
 * A full collection in the server (`/__gc`), so each count starts from the same heap. On a connection of
 * its own (`agent: false`): a kept-alive one would be reused a count later, after the server's
 * keep-alive timeout closed it (ECONNRESET).
 */
async function collect(port: number): Promise<void> {
  const body = await new Promise<string>((resolve, reject) => {
    get({ host: "127.0.0.1", port, path: "/__gc", agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        text += chunk;
      });
      res.on("end", () => resolve(res.statusCode === 200 ? text : "{}"));
    }).on("error", reject);
  });
  if (!(JSON.parse(body) as { collected?: boolean }).collected)
    throw new Error("the server cannot collect: a checkout without /__gc, or no --expose-gc");
}

let n = 0;
/** `count` new-key requests to `route` on `agent`'s connections (closed by the caller). */
const load = (agent: Agent, port: number, route: string, count: number) =>
  postNewKeys(agent, port, route, count, connections, () => `${runId}-${n++}`);

/** `count` requests on connections of their own, closed once they are answered. */
async function loadAlone(port: number, route: string, count: number): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  await load(agent, port, route, count).finally(() => agent.destroy());
}

/** The instructions of the main thread and of all threads in `pid`'s latest dump (one file a thread). */
function latestDump(pid: number): { main: number; all: number } {
  const files = readdirSync(out).filter((name) => name.startsWith(`callgrind.${pid}.`) && dump(name));
  const latest = Math.max(...files.map((name) => Number(dump(name)![1])));
  let main = 0;
  let all = 0;
  for (const name of files.filter((file) => Number(dump(file)![1]) === latest)) {
    const summary = /^summary:\s*(\d+)/m.exec(readFileSync(join(out, name), "utf8"))?.[1];
    if (summary === undefined) throw new Error(`no instruction count in ${name}`);
    all += Number(summary);
    if (Number(dump(name)![2]) === 1) main += Number(summary);
  }
  if (main === 0) throw new Error(`no instruction count from callgrind for pid ${pid}`);
  return { main, all };
}

const counts: number[][] = sides.map(() => []);
const allThreads: number[][] = sides.map(() => []);
// Every side's server runs for the whole measurement, each idle while another is counted.
const servers: Awaited<ReturnType<typeof startServer>>[] = [];
try {
  for (const side of sides) {
    const under = [
      "valgrind",
      "--tool=callgrind",
      "--instr-atstart=no",
      "--separate-threads=yes",
      `--callgrind-out-file=${join(out, "callgrind.%p")}`,
    ];
    const server = await startServer(framework, runId, false, ["--expose-gc"], side.checkout || undefined, {
      under,
      startMs: 300_000,
    });
    servers.push(server);
    await loadAlone(server.port, side.route, warmup);
  }
  for (let r = 0; r < repeats; r++) {
    for (const [i, side] of sides.entries()) {
      const { child, port } = servers[i]!;
      const pid = child.pid!;
      // A full collection, then requests to compile again what it dropped, so each count starts alike.
      await collect(port);
      await loadAlone(port, side.route, rewarm);
      const agent = new Agent({ keepAlive: true, maxSockets: connections });
      control(pid, "--zero");
      control(pid, "--instr=on");
      await load(agent, port, side.route, requests);
      // A dump holds exact totals since the zero (`-e`'s running figures lag behind). The connections
      // close after it: opening them is counted every time, closing them never.
      control(pid, "--dump");
      control(pid, "--instr=off");
      agent.destroy();
      const { main, all } = latestDump(pid);
      counts[i]!.push(main / requests);
      allThreads[i]!.push(all / requests);
    }
  }
} finally {
  for (const { child } of servers) await stopServer(child);
  await deleteKeys(runId);
  rmSync(out, { recursive: true, force: true });
}

const first = median(counts[0]!);
const firstAll = median(allThreads[0]!);
const list = (values: number[]) => values.map((c) => Math.round(c).toLocaleString("en")).join(", ");
for (const [i, side] of sides.entries()) {
  console.log(
    `${side.name}: instructions a request, main thread ${list(counts[i]!)} (median ÷ first side's ` +
      `${(median(counts[i]!) / first).toFixed(4)}); all threads ${list(allThreads[i]!)} ` +
      `(${(median(allThreads[i]!) / firstAll).toFixed(4)})`,
  );
}
