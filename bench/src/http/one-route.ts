/**
 * One route of the Express bench server, in a server process of its own, for paired runs of two
 * builds: `node --import tsx src/http/one-route.ts <route> [seconds] [--cpu-prof dir] [connections]`
 * prints req/s and the server's CPU µs per request (new keys; the server pinned to core 0 where
 * `taskset` works). With `STRACE=<file>` it attaches `strace -c` to the server for the measured load
 * (how many socket writes a request costs). The server, the load and the key cleanup are run.ts's.
 */
import { spawn } from "node:child_process";
import { cannon, canPin, deleteKeys, profileArgs, serverCpuUs, startServer, stopServer } from "./run.js";

const [route = "idemkit", seconds = "4", profileDir = "", connections = "16"] = process.argv.slice(2);
const runId = `one-route-${Date.now()}`;
const profile = profileArgs(profileDir);
const { child: server, port } = await startServer("express", runId, canPin(), profile);
let n = 0;
const load = (durationSec: number) =>
  cannon(port, route, Number(connections), durationSec, () => `${runId}-${n++}`);

await load(1); // warm-up
const tracer = process.env.STRACE
  ? spawn("strace", ["-f", "-c", "-o", process.env.STRACE, "-p", String(server.pid)], { stdio: "ignore" })
  : undefined;
if (tracer) await new Promise((resolve) => setTimeout(resolve, 500));
const before = await serverCpuUs(port);
const result = await load(Number(seconds));
const after = await serverCpuUs(port);
if (tracer) {
  tracer.kill("SIGINT");
  await new Promise((resolve) => tracer.on("exit", resolve));
}
console.log(
  `${route} ${Math.round(result.requests.average)} req/s, server cpu ${((after - before) / result.requests.total).toFixed(1)} µs/req, non2xx ${result.non2xx}`,
);
await stopServer(server);
await deleteKeys(runId);
