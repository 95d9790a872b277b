import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Contender, StoreName } from "./contenders/types.js";
import {
  abandonEach,
  type Budget,
  type Measurement,
  measure,
  populate,
  type Rewarm,
  SCENARIOS,
  type ScenarioName,
} from "./scenarios.js";

/**
 * What the bench asks of one contender of a store: prepared keys, and measurements. Each contender
 * runs in a process of its own by default (`runsApart`), told what to run one call at a time, so the
 * contenders still take turns as before; `--contenders-together` runs them all in the bench's process
 * (`runsHere`). Apart, because contenders in one process share glibc's heap, whose trimming and mmap
 * thresholds one contender's allocations set for the next: a 64 KiB replay on ioredis cost the
 * baseline ~160 µs of CPU alone and ~130 beside idemkit, and the two read alike once the allocator's
 * thresholds were fixed (HISTORY.md, thirty-sixth round).
 */
export interface Runner {
  /** Stores outcomes at `keys` (replays). */
  populate(keys: string[], bytes: number): Promise<void>;
  /** Leaves `keys` claimed by a crashed owner (takeovers); the caller waits for their leases. */
  abandon(keys: string[]): Promise<void>;
  measure(
    scenario: ScenarioName,
    concurrency: number,
    budget: Budget,
    tag: string,
    prepared: string[],
    rewarm?: Rewarm,
  ): Promise<Measurement>;
  close(): Promise<void>;
}

/** A measurement as measured: JSON, which carried it here, writes the NaN latencies of no requests as null. */
const withNumbers = (m: Measurement): Measurement => ({
  ...m,
  p50Ms: m.p50Ms ?? Number.NaN,
  p99Ms: m.p99Ms ?? Number.NaN,
});

/** `contender`, measured in this process. */
export function runsHere(contender: Contender): Runner {
  return {
    populate: (keys, bytes) => populate(contender, keys, bytes),
    abandon: (keys) => abandonEach(contender, keys),
    measure: (scenario, ...rest) => measure(contender, SCENARIOS[scenario], ...rest),
    close: async () => {},
  };
}

const PROCESS = fileURLToPath(new URL("./contender-process.ts", import.meta.url));

/** A call to a contender's process and its answer (`contender-process.ts`). */
export interface Call {
  id: number;
  op: "populate" | "abandon" | "measure" | "close";
  args: unknown[];
}
export type Answer = { id: number; result?: unknown; error?: string } | { ready: true } | { failed: string };

/**
 * The contender `label` of `store`, set up in a process of its own (Node's arguments of this one)
 * under `runId`, which names what it makes there (tables, files, key prefixes) apart from this
 * process's. Rejects with the reason when it could not be set up.
 */
export function runsApart(store: StoreName, runId: string, label: string): Promise<Runner> {
  const child = fork(PROCESS, [store, runId, label], {
    execArgv: process.execArgv,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  type Pending = { resolve(value: unknown): void; reject(error: Error): void };
  const waiting = new Map<number, Pending>();
  let start!: Pending;
  const started = new Promise((resolve, reject) => {
    start = { resolve, reject };
  });
  let ended: string | undefined;
  let next = 0;
  // The start and every call still waiting fail with why the process can no longer answer.
  const failed = (error: Error) => {
    ended ??= `${label}'s process: ${error.message}`;
    for (const pending of [start, ...waiting.values()]) pending.reject(new Error(ended));
    waiting.clear();
  };
  // A fork that failed, or a message to a process that is ending.
  child.on("error", failed);
  child.on("exit", (code, signal) => failed(new Error(`ended with ${signal ?? `code ${code}`}`)));
  child.on("message", (answer: Answer) => {
    if ("ready" in answer) return start.resolve(undefined);
    if ("failed" in answer) return start.reject(new Error(answer.failed));
    const pending = waiting.get(answer.id);
    waiting.delete(answer.id);
    if (answer.error === undefined) pending?.resolve(answer.result);
    else pending?.reject(new Error(`${label}'s process: ${answer.error}`));
  });
  const call = <T>(op: Call["op"], ...args: unknown[]) =>
    new Promise<T>((resolve, reject) => {
      if (ended) return reject(new Error(ended));
      const id = next++;
      waiting.set(id, { resolve: resolve as (value: unknown) => void, reject });
      child.send({ id, op, args } satisfies Call, (error) => {
        if (error) failed(error);
      });
    });
  const runner: Runner = {
    populate: (keys, bytes) => call("populate", keys, bytes),
    abandon: (keys) => call("abandon", keys),
    measure: (...args) => call<Measurement>("measure", ...args).then(withNumbers),
    close: () => (ended ? Promise.resolve() : call<void>("close")),
  };
  return started.then(() => runner);
}
