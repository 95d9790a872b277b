import type { Redis } from "ioredis";
import type { Contender } from "./contenders/types.js";
import { inputOf, populate } from "./scenarios.js";
import type { StoreSetup } from "./setup.js";

/** Store commands per request, measured with the store's own counters. */
export interface CommandCount {
  store: string;
  contender: string;
  kind: "new" | "replay";
  /** Requests the client sent to the server per request (what latency pays for). */
  roundTrips: number;
  /** Every command the server executed per request, including those inside Lua scripts. */
  commands: number;
  /** Per-command breakdown per request. */
  detail: Record<string, number>;
  source: string;
}

const SCRIPT_CALLS = new Set(["evalsha", "eval", "evalsha_ro", "eval_ro", "fcall"]);

/** Redis's `INFO commandstats`: each command's calls and µs spent in it since the server started. */
export async function commandStats(client: Redis): Promise<Map<string, { calls: number; usec: number }>> {
  const text = (await client.info("commandstats")) as string;
  const out = new Map<string, { calls: number; usec: number }>();
  for (const line of text.split("\n")) {
    const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line.trim());
    if (m) out.set(m[1]!, { calls: Number(m[2]), usec: Number(m[3]) });
  }
  return out;
}

/**
 * Redis: `INFO commandstats` deltas around N sequential requests. The counters are server-wide and
 * other clients may share the server, so each count is taken three times and the lowest kept.
 * Round trips are top-level commands: a script counts once, the commands it runs count as commands.
 */
export async function countRedis(
  client: Redis,
  store: string,
  contender: Contender,
  kind: "new" | "replay",
  tag: string,
  n = 100,
): Promise<CommandCount> {
  let best: CommandCount | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const keys = Array.from({ length: n }, (_, i) => `${tag}:count-${kind}-${attempt}:${i}`);
    if (kind === "replay") await populate(contender, keys, 0);
    const before = await commandStats(client);
    for (const key of keys) await contender.run(key, inputOf(key), async () => ({ id: key }));
    const after = await commandStats(client);
    const detail: Record<string, number> = {};
    let commands = 0;
    let roundTrips = 0;
    let scripted = false;
    for (const [name, { calls }] of after) {
      if (name === "info") continue;
      const delta = calls - (before.get(name)?.calls ?? 0);
      if (delta <= 0) continue;
      detail[name] = delta / n;
      commands += delta;
      if (SCRIPT_CALLS.has(name)) scripted = true;
    }
    for (const [name, perRequest] of Object.entries(detail)) {
      if (!scripted || SCRIPT_CALLS.has(name)) roundTrips += perRequest * n;
    }
    const count: CommandCount = {
      store,
      contender: contender.name,
      kind,
      roundTrips: roundTrips / n,
      commands: commands / n,
      detail,
      source: "INFO commandstats (min of 3 runs)",
    };
    if (!best || count.commands < best.commands) best = count;
  }
  return best!;
}

/** A counter the bench installs on a client's `query` (pg) or statement log (better-sqlite3). */
export interface Counter {
  count: number;
}

/** Counts with a client-side counter (pg queries on the Pool, SQLite statements on each prepared statement). */
export async function countWith(
  counter: Counter,
  store: string,
  source: string,
  contender: Contender,
  kind: "new" | "replay",
  tag: string,
  n = 100,
): Promise<CommandCount> {
  const keys = Array.from({ length: n }, (_, i) => `${tag}:count-${kind}:${i}`);
  if (kind === "replay") await populate(contender, keys, 0);
  const before = counter.count;
  for (const key of keys) await contender.run(key, inputOf(key), async () => ({ id: key }));
  const perRequest = (counter.count - before) / n;
  return {
    store,
    contender: contender.name,
    kind,
    roundTrips: perRequest,
    commands: perRequest,
    detail: {},
    source,
  };
}

/**
 * The count of one contender's requests of one kind by the store's counter, `undefined` where the store
 * has none (memory), or why it failed: one failed request (a store call past `storeTimeoutMs` on a
 * loaded machine) loses one count, not the run.
 */
export async function countContender(
  setup: StoreSetup,
  contender: Contender,
  kind: "new" | "replay",
  runId: string,
): Promise<CommandCount | string | undefined> {
  const { store } = setup;
  try {
    if (setup.redis) return await countRedis(setup.redis, store, contender, kind, `${runId}:${store}`);
    if (setup.counter) {
      const tag = `${runId}:${store}:${contender.name}`;
      return await countWith(setup.counter, store, setup.counterSource!, contender, kind, tag);
    }
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}
