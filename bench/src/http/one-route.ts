/**
 * One route of the Express bench server, in a server process of its own, for paired runs of two
 * builds: `node --import tsx src/http/one-route.ts <route> [seconds] [--cpu-prof dir] [connections]`
 * prints req/s and the server's CPU µs per request (new keys; autocannon in this process, the server
 * pinned to core 0 where `taskset` exists). With `STRACE=<file>` it attaches `strace -c` to the server
 * for the measured load (how many socket writes a request costs).
 */
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { REDIS_URL } from "../setup.js";
import { deleteKeys } from "./run.js";

const [route = "idemkit", seconds = "4", profileDir = "", connections = "16"] = process.argv.slice(2);
const here = dirname(fileURLToPath(import.meta.url));
const runId = `one-route-${Date.now()}`;
const node = [
  "--import",
  "tsx",
  ...(profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : []),
  join(here, "server-express.ts"),
  REDIS_URL,
  runId,
];
const server = spawn("taskset", ["-c", "0", process.execPath, ...node], {
  stdio: ["ignore", "pipe", "inherit"],
});
const port = await new Promise<number>((resolve) =>
  server.stdout!.on("data", (data) => {
    const listening = /listening (\d+)/.exec(String(data));
    if (listening) resolve(Number(listening[1]));
  }),
);
let n = 0;
const load = (durationSec: number) =>
  autocannon({
    url: `http://127.0.0.1:${port}/${route}`,
    method: "POST",
    connections: Number(connections),
    duration: durationSec,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ amount: 4200, currency: "EUR" }),
    requests: [
      {
        setupRequest: (req) => ({
          ...req,
          headers: { ...req.headers, "idempotency-key": `k${process.pid}-${n++}` },
        }),
      },
    ],
  });
const cpu = async () =>
  ((await (await fetch(`http://127.0.0.1:${port}/__cpu`)).json()) as { cpuUs: number }).cpuUs;

await load(1); // warm-up
const tracer = process.env.STRACE
  ? spawn("strace", ["-f", "-c", "-o", process.env.STRACE, "-p", String(server.pid)], { stdio: "ignore" })
  : undefined;
if (tracer) await new Promise((resolve) => setTimeout(resolve, 500));
const before = await cpu();
const result = await load(Number(seconds));
const after = await cpu();
if (tracer) {
  tracer.kill("SIGINT");
  await new Promise((resolve) => tracer.on("exit", resolve));
}
console.log(
  `${route} ${Math.round(result.requests.average)} req/s, server cpu ${((after - before) / result.requests.total).toFixed(1)} µs/req, non2xx ${result.non2xx}`,
);
server.kill("SIGTERM");
await new Promise((resolve) => server.on("exit", resolve));
await deleteKeys(runId);
