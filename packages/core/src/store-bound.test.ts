import { describe, expect, it, vi } from "vitest";
import { StoreUnavailableError } from "./errors.js";
import { createIdempotency } from "./idempotency.js";
import { createMemoryStore } from "./memory-store.js";
import type { IdempotencyStore } from "./store.js";

/** The memory store, declaring that its calls settle within `bound` ms (store.ts, `settlesWithinMs`). */
function boundedStore(bound: unknown, hang = false): IdempotencyStore {
  const inner = createMemoryStore();
  return {
    ...inner,
    claim: hang ? () => new Promise(() => {}) : inner.claim.bind(inner),
    complete: inner.complete.bind(inner),
    settlesWithinMs: bound as number,
  };
}

/** How many timers `runs` sequential `run()`s of new keys on one instance set. */
async function timersOfRuns(store: IdempotencyStore, runs = 1, storeTimeoutMs = 2_000): Promise<number> {
  const idem = createIdempotency({ store, storeTimeoutMs });
  const spy = vi.spyOn(globalThis, "setTimeout");
  try {
    for (let i = 0; i < runs; i++)
      await idem.run({ key: crypto.randomUUID(), input: { a: 1 } }, () => "done");
    return spy.mock.calls.length;
  } finally {
    spy.mockRestore();
  }
}
const timersOfOneRun = (store: IdempotencyStore) => timersOfRuns(store, 1);

describe("core's bound on store calls", () => {
  it("is one timer for all of an instance's calls, armed once, besides each lease's heartbeat", async () => {
    // Claim and complete of 20 runs: 40 calls, each bounded by storeTimeoutMs, under one timer.
    expect(await timersOfRuns(createMemoryStore(), 20)).toBe(20 + 1);
  });
});

describe("a store that bounds its own calls (settlesWithinMs)", () => {
  it("gets no timer of core's on claim and complete: only the lease's heartbeat is armed", async () => {
    expect(await timersOfOneRun(createMemoryStore())).toBe(2);
    expect(await timersOfOneRun(boundedStore(2_000))).toBe(1);
  });

  it.each([
    ["longer than storeTimeoutMs", 5_000],
    ["zero", 0],
    ["negative", -1],
    ["not a number", "2000"],
    ["NaN", Number.NaN],
    ["infinite", Number.POSITIVE_INFINITY],
  ])("keeps core's timer when the bound is %s", async (_, bound) => {
    expect(await timersOfOneRun(boundedStore(bound))).toBe(await timersOfOneRun(createMemoryStore()));
    // And a hung call is still cut at storeTimeoutMs.
    const idem = createIdempotency({ store: boundedStore(bound, true), storeTimeoutMs: 50 });
    await expect(idem.run({ key: "k" }, () => 1)).rejects.toBeInstanceOf(StoreUnavailableError);
  });
});
