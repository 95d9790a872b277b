// Model-based tests: random sequences of claim / complete / release / extend / advance time /
// crash, run on each real store and on the model of docs/design.md#state-machine side by side (see model.ts).
//
// Time: memory and SQLite take an injected clock, so "advance time" is exact and the model judges
// every deadline to the millisecond, including the boundary (a deadline equal to now has ended).
// Redis, PostgreSQL and MySQL judge deadlines by the server's clock: "advance time" is a real sleep, the
// model keeps each deadline as a window [local time before the call, local time after] + the lease,
// with `toleranceMs` of slack, and accepts either answer only while a deadline is inside that window.
import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { afterAll, beforeAll, describe, it } from "vitest";
import { commandArbitrary, initialModel, type Real, type Timing } from "./model.js";
import { type Clock, realClock, targets, titled, virtualClock } from "./targets.js";

const injectedTiming: Timing = {
  leaseMs: 1000,
  retentionMs: 3000,
  toleranceMs: 0,
  // Exact boundaries on purpose: 999 leaves 1 ms, 1000 lands on the deadline itself.
  steps: [1, 400, 999, 1000, 1001, 2500],
};

const serverTiming: Timing = {
  leaseMs: 400,
  retentionMs: 1200,
  toleranceMs: 60,
  steps: [20, 150, 480],
};

// Retention shorter than the lease ("retention 60 s, lease 5 min"): a record must still be kept the
// retention past its lease end, through purges, so a takeover after a crash gets a higher fence.
const injectedShortRetention: Timing = {
  leaseMs: 1000,
  retentionMs: 300,
  toleranceMs: 0,
  steps: [1, 299, 300, 999, 1000, 1001, 1300],
};

const serverShortRetention: Timing = {
  leaseMs: 400,
  retentionMs: 300,
  toleranceMs: 60,
  steps: [20, 150, 480],
};

const runs: Record<string, { numRuns: number; maxCommands: number }> = {
  memory: { numRuns: 300, maxCommands: 40 },
  sqlite: { numRuns: 150, maxCommands: 40 },
  dynamodb: { numRuns: 60, maxCommands: 30 },
  redis: { numRuns: 30, maxCommands: 18 },
  postgres: { numRuns: 30, maxCommands: 18 },
  mysql: { numRuns: 30, maxCommands: 18 },
  mongodb: { numRuns: 10, maxCommands: 18 },
};

/**
 * The retention-shorter-than-lease runs. A forgotten fence shows only after claim, lease end, purge,
 * claim in that order: injected clocks run many sequences (milliseconds each) to meet it.
 */
const shortRetentionRuns: Record<string, { numRuns: number; maxCommands: number }> = {
  memory: { numRuns: 1000, maxCommands: 40 },
  sqlite: { numRuns: 1000, maxCommands: 40 },
  dynamodb: { numRuns: 100, maxCommands: 30 },
  redis: { numRuns: 20, maxCommands: 18 },
  postgres: { numRuns: 20, maxCommands: 18 },
  mysql: { numRuns: 20, maxCommands: 18 },
  mongodb: { numRuns: 5, maxCommands: 18 },
};

for (const target of targets) {
  describe.skipIf(Boolean(target.skip))(titled(target, "state-machine model"), () => {
    const injected = target.clock === "injected";
    const timing = injected ? injectedTiming : serverTiming;
    const virtual = virtualClock();
    const clock: Clock = injected ? virtual : realClock;
    let opened: Awaited<ReturnType<typeof target.open>>;

    beforeAll(async () => {
      opened = await target.open(injected ? virtual.now : undefined);
    });
    afterAll(async () => {
      await opened?.close();
    });

    const mode = injected ? "exact injected clock" : "server clock, real sleeps, ±60 ms windows";
    const property = (t: Timing, numRuns: number, maxCommands: number) => async () => {
      await fc.assert(
        fc.asyncProperty(commandArbitrary(t, maxCommands), async (commands) => {
          // Fresh keys per run: the shared server is never flushed and runs never meet.
          const prefix = `model:${randomUUID()}`;
          // Each run starts far after the last one on the injected clock: old keys are long expired.
          virtual.t += 10_000_000;
          const real: Real = { store: opened.store, clock, purge: opened.purge };
          await fc.asyncModelRun(() => ({ model: initialModel(prefix), real }), commands);
        }),
        // Shrinking re-runs real sleeps on server stores: report the first failure as found there.
        { numRuns, endOnFailure: !injected },
      );
    };

    const { numRuns, maxCommands } = runs[target.name] ?? { numRuns: 10, maxCommands: 15 };
    it(
      `matches the model over ${numRuns} random command sequences (${mode})`,
      {
        timeout: 60_000,
      },
      property(timing, numRuns, maxCommands),
    );

    const short = shortRetentionRuns[target.name] ?? { numRuns: 5, maxCommands: 15 };
    it(
      `retention shorter than the lease: matches the model over ${short.numRuns} sequences with purges (${mode})`,
      {
        timeout: 60_000,
      },
      property(injected ? injectedShortRetention : serverShortRetention, short.numRuns, short.maxCommands),
    );
  });
}
