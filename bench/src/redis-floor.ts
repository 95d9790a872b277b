/**
 * What each layer costs at 1 in flight on Redis, where every request waits for its round trips: `node
 * --import tsx src/redis-floor.ts [seconds]` runs, in turns of 250 ms in one process, each on an ioredis
 * client of its own:
 *
 * - `baseline`: the bench's hand-written contender, `SET … NX GET PX` then `SET … XX PX`;
 * - `scripts`: idemkit's claim and completion scripts sent as they are, no library around them: the
 *   floor of any client on these scripts;
 * - `store`: the Redis store's `claim` and `complete`;
 * - `execute`: the bench's idemkit contender, the engine's `execute()` on that store;
 * - `set-claim`: a claim by `SET … NX GET` (no script), then the completion script: the best case of a
 *   claim without a script for a fresh key (it judges nothing, so it is not a store; see README);
 * - `set-execute`: `execute()` on the store with that claim in place of its script (`freshKeyStore`):
 *   the same best case through the engine, new keys only (also printed ÷ `execute`, turn by turn);
 * - `baseline-2`: the baseline again, on a connection of its own: the tool's own noise (it should read 1).
 *
 * New keys; then replays of 1,000 stored keys (`baseline`'s `SET … NX GET` finding the value, the claim
 * script, the store's `claim`, `execute`). Prints, for each, its median req/s over the turns, the median
 * (and the quartiles) of its ratio to the baseline's turn of the same round, and the µs a request it adds
 * to the baseline's. Loopback on this host: a longer round trip dilutes every difference.
 */
import { CallDeadlines, type IdempotencyStore } from "@idemkit/core";
import { createRedisStore } from "@idemkit/redis";
import { Redis } from "ioredis";
// The scripts as the built store sends them (not exported by the package): from its build, so a stale
// build cannot make the store and the raw variant run different scripts.
import { CLAIM, COMPLETE } from "../../packages/redis/dist/esm/scripts.js";
import { idemkitContender } from "./contenders/idemkit.js";
import { sha256 } from "./contenders/memory.js";
import { redisBaseline, redisIdemkit } from "./contenders/redis.js";
import type { Contender } from "./contenders/types.js";
import { freshRecord } from "./redis-record.js";
import { inputOf, outcomeOf } from "./scenarios.js";
import { deleteKeys, REDIS_URL } from "./setup.js";
import { median, quantile } from "./stats.js";

const seconds = Number(process.argv[2] ?? 20);
const TURN_MS = 250;
const LEASE = "30000";
const RETENTION = "600000";
const tag = `floor:${Date.now()}`;
const clients: Redis[] = [];
const client = () => {
  const c = new Redis(REDIS_URL);
  clients.push(c);
  return c;
};

const outcome = (key: string) => JSON.stringify(outcomeOf(key, 0));
const fingerprint = (key: string) => sha256(inputOf(key));
const encoder = new TextEncoder();
/** The store's claim of `k` with a new token, the lease and retention the raw scripts are sent. */
const claimOf = (k: string) => ({
  token: crypto.randomUUID(),
  fingerprint: fingerprint(k),
  leaseMs: Number(LEASE),
  retentionMs: Number(RETENTION),
});

type Variant = (key: string) => Promise<unknown>;

/**
 * The Redis store with its claim script replaced by `SET … NX GET` of `freshRecord`, for keys that have
 * no record (any other key fails the request: it is never judged). The claim keeps a deadline of the
 * store's timeout, as the store's own calls do, so it may declare the same bound (`settlesWithinMs`) and
 * core sets no timer of its own for either.
 */
function freshKeyStore(c: Redis): IdempotencyStore {
  const store = createRedisStore({ client: c });
  const timeoutMs = store.settlesWithinMs;
  // The store bounds its calls unless made with commandTimeoutMs 0, which this one is not.
  if (timeoutMs === undefined) throw new Error("set-execute: the store declares no bound");
  const deadlines = new CallDeadlines(timeoutMs);
  const claim: IdempotencyStore["claim"] = (key, request) =>
    new Promise((resolve, reject) => {
      const deadline = deadlines.start(() =>
        reject(new Error(`set-execute: no reply within ${timeoutMs} ms`)),
      );
      const record = freshRecord(request.token, request.fingerprint, request.leaseMs, request.retentionMs);
      c.set(key, record, "PX", String(request.leaseMs + request.retentionMs), "NX", "GET").then(
        (found) => {
          deadlines.end(deadline);
          if (found !== null) reject(new Error(`set-execute: ${key} has a record`));
          else resolve({ acquired: true, fence: 1, takeover: false });
        },
        (error: unknown) => {
          deadlines.end(deadline);
          reject(error);
        },
      );
    });
  const fresh: IdempotencyStore = { ...store, claim };
  Object.defineProperty(fresh, "settlesWithinMs", { value: timeoutMs });
  return fresh;
}

function variants(): Record<string, { new: Variant; replay?: Variant }> {
  const raw = client();
  const setClaim = client();
  const store = createRedisStore({ client: client() });
  const claimScript = (c: Redis, k: string, token: string) =>
    c.callBuffer("EVALSHA", CLAIM.sha, 1, k, token, fingerprint(k), LEASE, RETENTION);
  return {
    baseline: runOf(redisBaseline(client())),
    scripts: {
      async new(k) {
        const token = crypto.randomUUID();
        await claimScript(raw, k, token);
        const stored = await raw.callBuffer("EVALSHA", COMPLETE.sha, 1, k, token, outcome(k), RETENTION);
        if (stored !== 1) throw new Error(`scripts: the completion script refused the claim (${stored})`);
      },
      replay: (k) => claimScript(raw, k, crypto.randomUUID()),
    },
    store: {
      async new(k) {
        const claim = claimOf(k);
        await store.claim(k, claim);
        const result = encoder.encode(outcome(k));
        if (!(await store.complete(k, claim.token, { result, retentionMs: claim.retentionMs })))
          throw new Error("store: complete found the lease lost");
      },
      replay: (k) => store.claim(k, claimOf(k)),
    },
    execute: runOf(redisIdemkit(client())),
    "set-claim": {
      async new(k) {
        const token = crypto.randomUUID();
        await setClaim.set(
          k,
          freshRecord(token, fingerprint(k), Number(LEASE), Number(RETENTION)),
          "PX",
          LEASE,
          "NX",
          "GET",
        );
        const stored = await setClaim.callBuffer("EVALSHA", COMPLETE.sha, 1, k, token, outcome(k), RETENTION);
        if (stored !== 1) throw new Error(`set-claim: the completion script refused its record (${stored})`);
      },
    },
    "set-execute": { new: runOf(idemkitContender("redis", freshKeyStore(client()))).new },
    "baseline-2": runOf(redisBaseline(client())),
  };
}

/** A contender of the bench's, its new keys and replays as the bench runs them. */
function runOf(contender: Contender): { new: Variant; replay: Variant } {
  const run: Variant = (k) => contender.run(k, inputOf(k), async () => outcomeOf(k, 0));
  return { new: run, replay: run };
}

async function inTurns(label: string, runs: [string, Variant][], keyOf: (name: string, i: number) => string) {
  const rates = new Map<string, number[]>(runs.map(([name]) => [name, []]));
  const counters = new Map<string, number>();
  const rounds = Math.ceil((seconds * 1000) / TURN_MS / runs.length);
  for (let round = 0; round < rounds + 2; round++) {
    for (const [name, run] of runs) {
      const end = performance.now() + TURN_MS;
      const started = performance.now();
      let count = 0;
      let i = counters.get(name) ?? 0;
      while (performance.now() < end) {
        await run(keyOf(name, i++));
        count++;
      }
      counters.set(name, i);
      // The first two rounds warm every variant up.
      if (round >= 2) rates.get(name)!.push((count / (performance.now() - started)) * 1000);
    }
  }
  const base = rates.get("baseline")!;
  const paired = (a: string, b: string) => {
    const [ra, rb] = [rates.get(a), rates.get(b)];
    if (!ra || !rb) return;
    const ratios = ra.map((rate, round) => rate / rb[round]!).sort((x, y) => x - y);
    const [q1, mid, q3] = [0.25, 0.5, 0.75].map((q) => quantile(ratios, q).toFixed(3));
    console.log(`${label.padEnd(7)} ${a} ÷ ${b}, turn by turn: ${mid} (quartiles ${q1}–${q3})`);
  };
  for (const [name, values] of rates) {
    // Each turn against the baseline's turn of the same round: the machine's swings cancel out.
    const ratios = values.map((rate, round) => rate / base[round]!).sort((a, b) => a - b);
    const [q1, mid, q3] = [0.25, 0.5, 0.75].map((q) => quantile(ratios, q).toFixed(3));
    const addedUs = 1e6 / median(values) - 1e6 / median(base);
    console.log(
      `${label.padEnd(7)} ${name.padEnd(12)} ${String(Math.round(median(values))).padStart(6)} req/s  ` +
        `÷ baseline ${mid} (quartiles ${q1}–${q3})  ${addedUs >= 0 ? "+" : ""}${addedUs.toFixed(1)} µs/req`,
    );
  }
  // The claim without a script against the claim script, both through the engine.
  paired("set-execute", "execute");
}

const all = variants();
try {
  await measureAll();
} finally {
  // Every client is on the same database: one of them removes the run's keys.
  await deleteKeys(clients[0]!, `*${tag}*`);
  for (const c of clients) c.disconnect();
}

async function measureAll() {
  for (const c of clients) await c.script("LOAD", CLAIM.lua).then(() => c.script("LOAD", COMPLETE.lua));
  await inTurns(
    "new",
    Object.entries(all).map(([name, v]) => [name, v.new]),
    (name, i) => `${tag}:${name}:n${i}`,
  );
  const REPLAY_KEYS = 1000;
  const replaying = Object.entries(all).flatMap(([name, v]) =>
    v.replay ? [[name, v.replay] as [string, Variant]] : [],
  );
  for (const [name] of replaying) {
    for (let i = 0; i < REPLAY_KEYS; i++) await all[name]!.new(`${tag}:${name}:r${i}`);
  }
  await inTurns("replay", replaying, (name, i) => `${tag}:${name}:r${i % REPLAY_KEYS}`);
}
