/**
 * Bytes allocated per request, from the heap samples a bench server wrote (`HEAP_PROFILE=<file>
 * node --import tsx src/http/interleave.ts <route> <route> …`: one route, since samples carry no
 * time). Every allocation counts, collected or kept: what the collector has to sweep up.
 * `node --import tsx src/http/allocations.ts <file> [<other file>] [top]` prints bytes per request by
 * package and by frame (self); with two files, both and the difference, largest differences first.
 * Startup's allocations are spread over the requests too: compare runs of about the same length.
 */
import { readFileSync } from "node:fs";
import { type CallFrame, frameOf, packageOf } from "./profile-frames.js";

interface SampledNode {
  callFrame: CallFrame;
  selfSize: number;
  children: SampledNode[];
}

interface Sampled {
  requests: number;
  profile: { head: SampledNode };
}

const args = process.argv.slice(2);
const top = /^\d+$/.test(args.at(-1) ?? "") ? Number(args.pop()) : 30;
const files = args;
if (files.length === 0 || files.length > 2)
  throw new Error("usage: allocations.ts <file> [<other file>] [top]");

/** Bytes per request of one run, by package and by frame. */
function perRequest(file: string) {
  const { requests, profile } = JSON.parse(readFileSync(file, "utf8")) as Sampled;
  const byPackage = new Map<string, number>();
  const byFrame = new Map<string, number>();
  const add = (map: Map<string, number>, key: string, bytes: number) =>
    map.set(key, (map.get(key) ?? 0) + bytes / requests);
  const walk = (node: SampledNode) => {
    if (node.selfSize > 0) {
      add(byPackage, packageOf(node.callFrame), node.selfSize);
      add(byFrame, frameOf(node.callFrame), node.selfSize);
    }
    for (const child of node.children) walk(child);
  };
  walk(profile.head);
  const total = [...byPackage.values()].reduce((sum, bytes) => sum + bytes, 0);
  return { requests, total, byPackage, byFrame };
}

const runs = files.map(perRequest);
const bytes = (n: number | undefined) => (n ?? 0).toFixed(0).padStart(7);
console.log(
  `requests ${runs.map((r) => r.requests).join(" / ")}; bytes allocated per request ${runs.map((r) => r.total.toFixed(0)).join(" → ")}`,
);
for (const [title, of, rows] of [
  ["by package", (r: (typeof runs)[number]) => r.byPackage, 20],
  ["by frame (self)", (r: (typeof runs)[number]) => r.byFrame, top],
] as const) {
  const keys = new Set(runs.flatMap((r) => [...of(r).keys()]));
  const size = (key: string) =>
    runs.length === 1
      ? of(runs[0]!).get(key)!
      : Math.abs((of(runs[1]!).get(key) ?? 0) - (of(runs[0]!).get(key) ?? 0));
  console.log(`\n${title}: bytes per request${runs.length === 2 ? ", first → second (difference)" : ""}`);
  for (const key of [...keys].sort((x, y) => size(y) - size(x)).slice(0, rows)) {
    const [a, b] = runs.map((r) => of(r).get(key));
    console.log(
      runs.length === 1
        ? `${bytes(a)}  ${key}`
        : `${bytes(a)} ${bytes(b)} ${bytes((b ?? 0) - (a ?? 0))}  ${key}`,
    );
  }
}
