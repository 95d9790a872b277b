/**
 * What one route's own library costs a request with the work it asks of Node, from an `interleave.ts`
 * profile: each sample in Node's or V8's own code (a socket write, a hash, a timer) is charged to the
 * nearest frame above it that is neither, and kept when that frame is the library's (a package name
 * starting with `prefix`). `node --import tsx src/http/caused-by.ts <PROFILE_DIR> <route> [prefix] [top]`
 * prints the library's self time and what its frames ask of Node a request, then its frames by the two
 * together, with the Node frames each one's time went to. The collector's time has no caller and is in
 * neither; a library's wrapper that passes a call on (a patched `res.end`) is charged with what it calls.
 */
import { readRouteSamples } from "./route-samples.js";

const [dir = ".", route = "idemkit", prefix = "@idemkit/", top = "30"] = process.argv.slice(2);
const { requests, frames, forEach } = readRouteSamples(dir);
const served = requests.get(route);
if (!served) throw new Error(`no requests of route ${route} in ${dir}`);

/** Node's and V8's own frames, which run for whatever called them. */
const isRuntime = (pkg: string) => pkg === "node:internal" || pkg.startsWith("(");
const byFrame = new Map<string, { self: number; asked: number; where: Map<string, number> }>();
forEach((sampleRoute, node, us) => {
  if (sampleRoute !== route) return;
  let caller: number | undefined = node;
  while (caller !== undefined && isRuntime(frames.get(caller)!.pkg)) caller = frames.get(caller)!.parent;
  if (caller === undefined || !frames.get(caller)!.pkg.startsWith(prefix)) return;
  const { frame } = frames.get(caller)!;
  const entry = byFrame.get(frame) ?? { self: 0, asked: 0, where: new Map<string, number>() };
  if (caller === node) entry.self += us;
  else {
    entry.asked += us;
    const where = frames.get(node)!.frame;
    entry.where.set(where, (entry.where.get(where) ?? 0) + us);
  }
  byFrame.set(frame, entry);
});

const perRequest = (us: number) => (us / served).toFixed(2);
const rows = [...byFrame].sort(([, x], [, y]) => y.self + y.asked - (x.self + x.asked));
const sum = (pick: (e: { self: number; asked: number }) => number) =>
  rows.reduce((s, [, e]) => s + pick(e), 0);
console.log(
  `${route}, ${prefix}: µs per request, self ${perRequest(sum((e) => e.self))}, asked of Node ${perRequest(sum((e) => e.asked))}`,
);
console.log("  both = self + asked   frame   (where the asked time went)");
for (const [frame, entry] of rows.slice(0, Number(top))) {
  const where = [...entry.where]
    .sort(([, x], [, y]) => y - x)
    .slice(0, 3)
    .map(([name, us]) => `${name.replace(/^\S+ /, "")} ${perRequest(us)}`)
    .join("; ");
  console.log(
    `${perRequest(entry.self + entry.asked).padStart(7)} = ${perRequest(entry.self)} + ${perRequest(entry.asked)}  ${frame}${where ? `   (${where})` : ""}`,
  );
}
