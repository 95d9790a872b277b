import { setTimeout as sleep } from "node:timers/promises";
import { type Contender, InFlightError, TAKEOVER_LEASE_MS } from "./contenders/types.js";
import { closedLoop, type LoopResult } from "./loop.js";

/** How long the first call of a burst works, so that its duplicates meet it in flight. */
export const BURST_WORK_MS = 1;

/**
 * Waits at least `ms` of real time. One `setTimeout` does not: Node's timer clock counts whole
 * milliseconds, so a 1 ms timer is due when the next one starts, and fires after anything from a fraction
 * of a millisecond to ~1.3 ms by where in a millisecond it was armed and whether the loop is awake
 * (HISTORY.md, sixteenth round). It is re-armed until `ms` have passed: 1 ms of work then lasts ~1.1 ms
 * with an idle loop and 1.0–2.0 ms with a busy one.
 */
export async function sleepReally(ms: number): Promise<void> {
  if (!Number.isFinite(ms)) throw new RangeError(`sleepReally: ${ms} ms`);
  const end = performance.now() + ms;
  for (let left = ms; left > 0; left = end - performance.now()) await sleep(Math.ceil(left));
}

/**
 * The longest a burst's work waits for its duplicates when it is held until they are answered
 * (`untilAnswered`): a contender that runs the work twice, or whose duplicates wait for the first call,
 * would otherwise wait forever.
 */
export const BURST_WORK_MAX_MS = 100;

/** One burst's calls as they settled, how many ran the work, and when the (last) work started and ended. */
export interface Burst {
  settled: PromiseSettledResult<unknown>[];
  executions: number;
  workStarted: number;
  workEnded: number;
}

/** How a burst's work spends its time, given a promise of the other calls all being answered. */
export type BurstWork = (othersAnswered: Promise<void>) => Promise<unknown>;

/** The bench's work: 1 ms of real time. */
export const oneMillisecond: BurstWork = () => sleepReally(BURST_WORK_MS);

/**
 * Work of no length of its own: held until the other calls have all been answered, so the burst measures
 * how fast a library turns its duplicates away. Fails the burst past `BURST_WORK_MAX_MS` (duplicates that
 * wait for the first call cannot be measured so).
 */
export const untilAnswered: BurstWork = async (othersAnswered) => {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(resolve, BURST_WORK_MAX_MS, "late");
  });
  const how = await Promise.race([othersAnswered, late]);
  clearTimeout(timer);
  if (how === "late")
    throw new Error(`a burst's duplicates were not all answered in ${BURST_WORK_MAX_MS} ms`);
};

/**
 * Throws unless `burst` ran its work once and every other call failed only as a conflict: what a tool
 * measuring single bursts requires (the bench's scenario counts both instead, and reports them).
 */
export function expectOneRun(burst: Burst, who: string, key: string): void {
  for (const s of burst.settled)
    if (s.status === "rejected" && !(s.reason instanceof InFlightError)) throw s.reason;
  if (burst.executions !== 1) throw new Error(`${who}: ${burst.executions} executions of ${key}`);
}

/**
 * One burst: `duplicates` concurrent calls (`call`, given the work); the call that runs the work spends it
 * as `hold` says, then returns `value()`.
 */
export async function runBurst(
  duplicates: number,
  call: (work: () => Promise<unknown>) => Promise<unknown>,
  value: () => unknown,
  hold: BurstWork = oneMillisecond,
): Promise<Burst> {
  let executions = 0;
  let workStarted = 0;
  let workEnded = 0;
  let answered = 0;
  let othersAnswered!: () => void;
  const others = new Promise<void>((resolve) => {
    othersAnswered = resolve;
  });
  if (duplicates <= 1) othersAnswered();
  const work = async () => {
    executions++;
    workStarted = performance.now();
    await hold(others);
    workEnded = performance.now();
    return value();
  };
  const count = () => {
    if (++answered === duplicates - 1) othersAnswered();
  };
  const settled = await Promise.allSettled(
    Array.from({ length: duplicates }, () => {
      const pending = call(work);
      pending.then(count, count);
      return pending;
    }),
  );
  return { settled, executions, workStarted, workEnded };
}

export type ScenarioName =
  | "new"
  | "replay"
  | "mix-90-10"
  | "burst"
  | "takeover"
  | "new-1k"
  | "replay-1k"
  | "new-64k"
  | "replay-64k";

export interface Scenario {
  name: ScenarioName;
  kind: "new" | "replay" | "mix" | "burst" | "takeover";
  /** Bytes of the payload string in the outcome (0: a small object). */
  outcomeBytes: number;
  description: string;
}

export const SCENARIOS: Record<ScenarioName, Scenario> = {
  new: { name: "new", kind: "new", outcomeBytes: 0, description: "every request has a new key" },
  replay: {
    name: "replay",
    kind: "replay",
    outcomeBytes: 0,
    description: "every request replays a stored outcome",
  },
  "mix-90-10": { name: "mix-90-10", kind: "mix", outcomeBytes: 0, description: "90% replays, 10% new keys" },
  burst: {
    name: "burst",
    kind: "burst",
    outcomeBytes: 0,
    description: "bursts of N concurrent duplicates on one fresh key (N = the concurrency), 1 ms of work",
  },
  takeover: {
    name: "takeover",
    kind: "takeover",
    outcomeBytes: 0,
    description: "every key was claimed by an owner that crashed; its lease has expired",
  },
  "new-1k": { name: "new-1k", kind: "new", outcomeBytes: 1024, description: "new keys, 1 KiB outcomes" },
  "replay-1k": {
    name: "replay-1k",
    kind: "replay",
    outcomeBytes: 1024,
    description: "replays of 1 KiB outcomes",
  },
  "new-64k": { name: "new-64k", kind: "new", outcomeBytes: 65536, description: "new keys, 64 KiB outcomes" },
  "replay-64k": {
    name: "replay-64k",
    kind: "replay",
    outcomeBytes: 65536,
    description: "replays of 64 KiB outcomes",
  },
};

export interface Budget {
  durationMs: number;
  maxOps: number;
}

export interface Measurement extends LoopResult {
  /** For bursts: keys run, handler executions, the most executions of one key, in-flight rejections. */
  burst?: { keys: number; executions: number; maxPerKey: number; duplicated: number; rejected: number };
  /** Requests of the unrecorded rewarm that failed (`firstError` then says the first, if none measured did). */
  rewarmErrors?: number;
}

const payloads = new Map<number, string>();
function payload(bytes: number): string {
  let p = payloads.get(bytes);
  if (p === undefined) {
    p = "x".repeat(bytes);
    payloads.set(bytes, p);
  }
  return p;
}

/** The input every contender fingerprints: the same for a key on every request. */
export const inputOf = (key: string) => ({ key, amount: 4200, currency: "EUR" });
export const outcomeOf = (key: string, bytes: number) =>
  bytes === 0 ? { id: key, status: "created" } : { id: key, status: "created", payload: payload(bytes) };

function work(key: string, bytes: number): () => Promise<unknown> {
  return async () => outcomeOf(key, bytes);
}

/** Keys with stored outcomes, prepared once per contender for the replay and mix scenarios. */
export async function populate(contender: Contender, keys: string[], bytes: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < keys.length) {
      const key = keys[next++]!;
      await contender.run(key, inputOf(key), work(key, bytes));
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
}

/** Leaves `keys` claimed by a crashed owner of `contender`'s (nothing where it cannot). */
export async function abandonEach(contender: Contender, keys: string[]): Promise<void> {
  if (!contender.abandon) return;
  let next = 0;
  const worker = async () => {
    while (next < keys.length) {
      const key = keys[next++]!;
      await contender.abandon!(key, inputOf(key));
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
}

/** Waits until claims abandoned before it have passed their lease. */
export const untilAbandonedExpire = () => sleep(TAKEOVER_LEASE_MS + 60);

/** The same scenario, unrecorded, between the collection and the measurement. */
export interface Rewarm {
  budget: Budget;
  /** A takeover's own abandoned claims (each is taken over once; the measured ones stay untouched). */
  prepared?: string[];
}

/**
 * One measurement of `contender` on `scenario` with `concurrency` in flight. A full collection first
 * (the bench runs with --expose-gc), so no measurement pays for the garbage of the one before it or of
 * another contender's setup. That collection also throws away optimized code that held objects it
 * freed (V8's "weak objects" deoptimization: ~30 functions of idemkit's path, ~18 of the baseline's), so
 * with `rewarm` the contender first runs the scenario unrecorded for a budget measured to be long
 * enough to recompile them (HISTORY.md, fourteenth round): a measurement is of the steady state.
 */
export async function measure(
  contender: Contender,
  scenario: Scenario,
  concurrency: number,
  budget: Budget,
  /** Unique per measurement, for fresh keys. */
  tag: string,
  /** Keys with stored outcomes (replay, mix) or abandoned claims (takeover). */
  prepared: string[],
  rewarm?: Rewarm,
): Promise<Measurement> {
  if (rewarm && scenario.kind === "takeover" && rewarm.prepared === undefined)
    throw new Error("measure: a takeover's rewarm needs abandoned claims of its own");
  (globalThis as { gc?: () => void }).gc?.();
  const subject = { contender, scenario, concurrency };
  let rewarmErrors: Pick<Measurement, "rewarmErrors" | "firstError"> = {};
  if (rewarm) {
    const r = await runScenario(subject, rewarm.budget, `${tag}:rw`, rewarm.prepared ?? prepared);
    if (r.errors > 0) rewarmErrors = { rewarmErrors: r.errors, firstError: `rewarm: ${r.firstError}` };
  }
  const measured = await runScenario(subject, budget, tag, prepared);
  return { ...rewarmErrors, ...measured };
}

async function runScenario(
  { contender, scenario, concurrency }: { contender: Contender; scenario: Scenario; concurrency: number },
  budget: Budget,
  tag: string,
  prepared: string[],
): Promise<Measurement> {
  const bytes = scenario.outcomeBytes;
  const once = (key: string) => contender.run(key, inputOf(key), work(key, bytes));
  switch (scenario.kind) {
    case "new":
      return closedLoop({ concurrency, ...budget, op: async (i) => void (await once(`${tag}:${i}`)) });
    case "replay":
      return closedLoop({
        concurrency,
        ...budget,
        op: async (i) => void (await once(prepared[i % prepared.length]!)),
      });
    case "mix":
      return closedLoop({
        concurrency,
        ...budget,
        op: async (i) => void (await once(i % 10 === 0 ? `${tag}:${i}` : prepared[i % prepared.length]!)),
      });
    case "takeover":
      return closedLoop({
        concurrency,
        durationMs: budget.durationMs,
        maxOps: Math.min(budget.maxOps, prepared.length),
        op: async (i) => void (await once(prepared[i]!)),
      });
    case "burst": {
      const executions = new Map<string, number>();
      let rejected = 0;
      const result = await closedLoop({
        concurrency: 1,
        durationMs: budget.durationMs,
        maxOps: Math.max(1, Math.floor(budget.maxOps / concurrency)),
        op: async (i) => {
          const key = `${tag}:${i}`;
          const burst = await runBurst(
            concurrency,
            (work) => contender.run(key, inputOf(key), work),
            () => outcomeOf(key, bytes),
          );
          executions.set(key, burst.executions);
          for (const s of burst.settled) {
            if (s.status === "rejected") {
              if (s.reason instanceof InFlightError) rejected++;
              else throw s.reason;
            }
          }
          return concurrency;
        },
      });
      const counts = [...executions.values()];
      return {
        ...result,
        burst: {
          keys: counts.length,
          executions: counts.reduce((a, b) => a + b, 0),
          maxPerKey: Math.max(0, ...counts),
          duplicated: counts.filter((n) => n > 1).length,
          rejected,
        },
      };
    }
  }
}
