/**
 * The CPU profile an `interleave.ts` run wrote with `PROFILE_DIR`, read sample by sample with the route
 * each sample's slice served (`slices.json`, in the profile's monotonic clock): what `split-profile.ts`
 * and `caused-by.ts` read.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { type CallFrame, frameOf, packageOf } from "./profile-frames.js";

export interface Slice {
  route: string;
  startUs: number;
  endUs: number;
  requests: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface RouteSamples {
  slices: Slice[];
  routes: string[];
  /** Requests served in each route's slices. */
  requests: Map<string, number>;
  /** Each node's package and frame as the tables print them, and its caller. */
  frames: Map<number, { pkg: string; frame: string; parent: number | undefined }>;
  /** Calls `visit` for every sample in a slice, idle ones left out, with its route, node and µs. */
  forEach(visit: (route: string, node: number, us: number) => void): void;
}

export function readRouteSamples(dir: string): RouteSamples {
  const slices = JSON.parse(readFileSync(join(dir, "slices.json"), "utf8")) as Slice[];
  // The server's main thread wrote the largest profile (tsx's loader thread writes one of its own).
  const file = readdirSync(dir)
    .filter((name) => name.endsWith(".cpuprofile"))
    .sort((x, y) => statSync(join(dir, y)).size - statSync(join(dir, x)).size)[0];
  if (!file) throw new Error(`no .cpuprofile in ${dir}`);
  const profile = JSON.parse(readFileSync(join(dir, file), "utf8")) as Profile;

  const parents = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
  const frames = new Map(
    profile.nodes.map((node) => [
      node.id,
      { pkg: packageOf(node.callFrame), frame: frameOf(node.callFrame), parent: parents.get(node.id) },
    ]),
  );
  const routes = [...new Set(slices.map((s) => s.route))];
  const requests = new Map(routes.map((r) => [r, 0]));
  for (const s of slices) requests.set(s.route, requests.get(s.route)! + s.requests);

  const forEach = (visit: (route: string, node: number, us: number) => void) => {
    let at = profile.startTime;
    let slice = 0;
    for (let i = 0; i < profile.samples.length; i++) {
      at += profile.timeDeltas[i]!;
      const us = profile.timeDeltas[i + 1] ?? 0;
      while (slice < slices.length && slices[slice]!.endUs < at) slice++;
      const current = slices[slice];
      if (!current || at < current.startUs) continue;
      const node = profile.samples[i]!;
      if (frames.get(node)!.pkg === "(idle)") continue;
      visit(current.route, node, us);
    }
  };
  return { slices, routes, requests, frames, forEach };
}
