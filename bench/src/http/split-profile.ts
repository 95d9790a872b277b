/**
 * Splits the CPU profile of an `interleave.ts` run by route: each sample falls in one route's slice
 * (`slices.json`, written beside the profile, in the same monotonic clock as the profile's
 * timestamps), so every frame's self time, Express's, Node's and the collector's included, is charged
 * to the route whose requests were being served, per request.
 * `node --import tsx src/http/split-profile.ts <PROFILE_DIR> [top] [own]` prints, for each route, µs
 * per request by package, then the frames whose self time differs most between the two routes, then
 * what a route's own library (packages whose names start with one of `own`'s comma-separated prefixes,
 * by default `@idemkit/,@node-idempotency/`) costs in its frames' self time, and how the two would
 * compare, by sampled CPU beside the slices' req/s, had one library's self time cost nothing or what the
 * other's costs. Self time only: the Node work the library asks for (a hash, a header copy, a timer) and
 * the collector's share of its garbage are not in it, so this is not a bound on what changing the
 * library's code could reach; it says how much of a gap is the library's own frames.
 */
import { readRouteSamples } from "./route-samples.js";

const [dir = ".", top = "25", own = "@idemkit/,@node-idempotency/"] = process.argv.slice(2);
const { slices, routes, requests, frames, forEach } = readRouteSamples(dir);
const byPackage = new Map(routes.map((r) => [r, new Map<string, number>()]));
const byFrame = new Map(routes.map((r) => [r, new Map<string, number>()]));
const add = (map: Map<string, number>, key: string, us: number) => map.set(key, (map.get(key) ?? 0) + us);

forEach((route, node, us) => {
  const { pkg, frame } = frames.get(node)!;
  add(byPackage.get(route)!, pkg, us);
  add(byFrame.get(route)!, frame, us);
});

const perRequest = (route: string, map: Map<string, number>, key: string) =>
  (map.get(key) ?? 0) / requests.get(route)!;
if (routes.length !== 2) throw new Error(`expected the slices of two routes, found ${routes.length}`);
const [a, b] = routes as [string, string];
function table(title: string, maps: Map<string, Map<string, number>>, rows: number) {
  const keys = new Set([...maps.get(a)!.keys(), ...maps.get(b)!.keys()]);
  const lines = [...keys]
    .map((key) => {
      const ua = perRequest(a, maps.get(a)!, key);
      const ub = perRequest(b, maps.get(b)!, key);
      return { key, ua, ub };
    })
    .sort((x, y) => Math.abs(y.ub - y.ua) - Math.abs(x.ub - x.ua))
    .slice(0, rows);
  console.log(`\n${title}: µs per request, ${a} → ${b} (difference)`);
  for (const { key, ua, ub } of lines) {
    console.log(
      `${ua.toFixed(1).padStart(7)} ${ub.toFixed(1).padStart(7)} ${(ub - ua).toFixed(1).padStart(7)}  ${key}`,
    );
  }
}
const total = (route: string) =>
  [...byPackage.get(route)!.values()].reduce((s, x) => s + x, 0) / requests.get(route)!;
console.log(
  `requests ${a} ${requests.get(a)}, ${b} ${requests.get(b)}; sampled CPU µs/req ${total(a).toFixed(1)} → ${total(b).toFixed(1)}`,
);
table("by package", byPackage, 30);
table("by frame (self time)", byFrame, Number(top));

const ownPrefixes = own
  .split(",")
  .map((prefix) => prefix.trim())
  .filter((prefix) => prefix !== "");
const ownCode = (route: string) =>
  [...byPackage.get(route)!]
    .filter(([pkg]) => ownPrefixes.some((prefix) => pkg.startsWith(prefix)))
    .reduce((s, [, us]) => s + us, 0) / requests.get(route)!;
const reqPerSecond = (route: string) => {
  const mine = slices.filter((s) => s.route === route);
  return mine.reduce((n, s) => n + s.requests, 0) / mine.reduce((t, s) => t + (s.endUs - s.startUs), 0);
};
console.log(`\nown library code (${ownPrefixes.join(", ")}), self time: µs per request, ${a} → ${b}`);
console.log(`${ownCode(a).toFixed(1).padStart(7)} ${ownCode(b).toFixed(1).padStart(7)}`);
// On a server bound by its one core, sampled CPU a request stands for throughput: X ÷ Y is Y's CPU ÷ X's.
const ratio = (x: number, y: number) => (y / x).toFixed(3);
for (const [side, other] of [
  [a, b],
  [b, a],
] as const) {
  const cpu = total(side);
  console.log(
    `${side} ÷ ${other}: req/s ${(reqPerSecond(side) / reqPerSecond(other)).toFixed(3)}; by sampled CPU ` +
      `${ratio(cpu, total(other))} as measured, ${ratio(cpu - ownCode(side), total(other))} had ${side}'s ` +
      `own self time cost nothing, ${ratio(cpu - ownCode(side) + ownCode(other), total(other))} had it cost ` +
      `what ${other}'s does`,
  );
}
