import { describe, expect, it, vi } from "vitest";
import { StoreUnavailableError } from "./errors.js";
import type { IdempotencyEvent } from "./events.js";
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

/**
 * How many timers one `run()` of a new key sets, counted by a spy on `setTimeout`. The spy is a
 * replaced `setTimeout`, so core gives each call a timer of its own, as under a test's fake timers
 * (call-deadlines.ts): this counts the timers of each call.
 */
async function timersOfOneRun(store: IdempotencyStore, storeTimeoutMs = 2_000): Promise<number> {
  const idem = createIdempotency({ store, storeTimeoutMs });
  const spy = vi.spyOn(globalThis, "setTimeout");
  try {
    await idem.run({ key: crypto.randomUUID(), input: { a: 1 } }, () => "done");
    return spy.mock.calls.length;
  } finally {
    spy.mockRestore();
  }
}

// Node lists a timer among the active resources only while it holds the process open (ref'd).
const holding = () => process.getActiveResourcesInfo().filter((name) => name === "Timeout").length;

/**
 * How many more timers hold the process while `runs` claims on one instance wait, than before; then
 * the claims answer and the runs finish.
 */
async function timersWhileWaiting(runs: number): Promise<number> {
  const inner = createMemoryStore();
  let open = () => {};
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const store: IdempotencyStore = {
    ...inner,
    claim: async (key, claim) => gate.then(() => inner.claim(key, claim)),
    complete: inner.complete.bind(inner),
  };
  const idem = createIdempotency({ store, storeTimeoutMs: 60_000 });
  const before = holding();
  const pending = Array.from({ length: runs }, (_, i) => idem.run({ key: `k${i}` }, () => "done"));
  await new Promise((resolve) => setImmediate(resolve));
  const added = holding() - before;
  open();
  expect(await Promise.all(pending)).toEqual(Array(runs).fill("done"));
  return added;
}

describe("core's bound on store calls", () => {
  it("is one timer for all of an instance's pending calls, not one per call", async () => {
    // One timer; the count is process-wide, so another timer starting or ending meanwhile moves it by
    // one. A timer per call would add 20.
    expect(await timersWhileWaiting(20)).toBeLessThan(3);
  });
});

describe("a store that bounds its own calls (settlesWithinMs)", () => {
  it("gets no timer of core's on its calls", async () => {
    // Counted per call (timers of their own, as under fake timers): only the lease's heartbeat.
    expect(await timersOfOneRun(createMemoryStore())).toBe(3);
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

/** The memory store, declaring (with `flag`) that its calls settle as they return (store.ts, `settlesOnReturn`). */
function settlingStore(flag: unknown): IdempotencyStore {
  return { ...boundedStore(undefined), settlesOnReturn: flag as boolean };
}

describe("a store whose calls settle as they return (settlesOnReturn)", () => {
  it("gets no timer of core's on its calls", async () => {
    expect(await timersOfOneRun(settlingStore(true))).toBe(1);
  });

  it.each([
    ["false", false],
    ["a string", "true"],
    ["1", 1],
  ])("keeps core's timer when the flag is %s", async (_, flag) => {
    expect(await timersOfOneRun(settlingStore(flag))).toBe(await timersOfOneRun(createMemoryStore()));
  });
});

describe.each([
  ["bounds its own calls", (store: IdempotencyStore) => ({ ...store, settlesWithinMs: 2_000 })],
  ["settles its calls as they return", (store: IdempotencyStore) => ({ ...store, settlesOnReturn: true })],
])("a call to a store that %s, with no timer of core's", (_, declare) => {
  /** A run on `store` as declared, with the events it reports. */
  async function runOn(store: IdempotencyStore) {
    const events: IdempotencyEvent[] = [];
    const idem = createIdempotency({ store: declare(store) });
    idem.on((event) => events.push(event));
    const outcome = await idem
      .run({ key: "k" }, () => "done")
      .then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      );
    return { outcome, events };
  }

  it("is reported as a store-call event, with its duration", async () => {
    const { outcome, events } = await runOn(createMemoryStore());
    expect(outcome).toEqual({ value: "done" });
    const calls = events.filter((event) => event.type === "store-call");
    expect(calls.map((event) => event.operation)).toEqual(["claim", "complete"]);
    for (const call of calls) expect(call.durationMs).toBeGreaterThanOrEqual(0);
  });

  it.each([
    ["rejects", () => Promise.reject(new Error("down"))],
    [
      "throws",
      () => {
        throw new Error("down");
      },
    ],
  ])(
    "that %s fails closed, as StoreUnavailableError with the store's error, reported as store-error",
    async (_, claim) => {
      const { outcome, events } = await runOn({ ...createMemoryStore(), claim });
      const { error } = outcome as { error: StoreUnavailableError };
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect((error.cause as Error).message).toBe("down");
      const failures = events.filter((event) => event.type === "store-error");
      // The claim is tried twice (a lost reply is retried once), and each failure is reported.
      expect(failures.map((event) => event.operation)).toEqual(["claim", "claim"]);
    },
  );
});

describe("a claim's store-call event", () => {
  it("counts the store's own synchronous work (a synchronous driver's claim)", async () => {
    const inner = createMemoryStore();
    const store: IdempotencyStore = {
      ...inner,
      claim(key, claim) {
        const until = performance.now() + 30;
        while (performance.now() < until); // a synchronous driver at work
        return inner.claim(key, claim);
      },
      complete: inner.complete.bind(inner),
      settlesOnReturn: true,
    };
    const idem = createIdempotency({ store });
    const calls: IdempotencyEvent[] = [];
    idem.on((event) => {
      if (event.type === "store-call") calls.push(event);
    });
    await idem.run({ key: "k" }, () => "done");
    const claim = calls.find((event) => event.type === "store-call" && event.operation === "claim");
    expect((claim as { durationMs: number }).durationMs).toBeGreaterThanOrEqual(29);
  });
});
