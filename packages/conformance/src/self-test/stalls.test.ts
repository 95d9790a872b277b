import { describe, expect, it } from "vitest";
import { groups } from "../checks/index.js";
import { createMemoryStore, runCheck, sweep, wrap } from "./harness.js";

// A loaded machine can stall the process running the suite: a check that keeps a lease alive must
// then start over, not blame a correct store whose lease ended while the check could not run.
const checks = new Map(groups.flatMap((g) => g.checks.map((check) => [check.id, check] as const)));

/** Blocks the event loop for `ms`, as a loaded machine or a long collection does. */
function stall(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy
  }
}

/** The memory store, with the process stalled for `ms`, 100 ms after each of its first `times` claims. */
function stallingAfterClaims(ms: number, times: number) {
  const store = createMemoryStore();
  let left = times;
  const stalling = wrap(store, {
    claim(key, claim) {
      if (left > 0 && claim.leaseMs < 60_000) {
        left--;
        setTimeout(() => stall(ms), 100);
      }
      return store.claim(key, claim);
    },
  });
  return { instance: () => stalling, purge: () => sweep(store) };
}

// Each stall is longer than the check's lease (2 and 4 times the suite's 300 ms).
const cases = [
  ["extend/keeps-key", 700],
  ["extend/lease-from-extend", 1_300],
] as const;

describe("a check that keeps a lease alive, when its own process stalls past the lease", () => {
  it.each(cases)("%s starts over and passes a correct store", async (id, ms) => {
    expect(await runCheck(checks.get(id)!, stallingAfterClaims(ms, 1))).toBeUndefined();
  }, 30_000);

  it.each(cases)("%s fails, saying why, when it stalls every time", async (id, ms) => {
    const error = await runCheck(checks.get(id)!, stallingAfterClaims(ms, 3));
    expect(String(error)).toMatch(/own process stalled each of the 3 times it ran.*not a fault of the store/);
  }, 30_000);
});
