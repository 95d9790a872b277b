import { describe, expect, it } from "vitest";
import { ConflictError } from "./errors.js";
import type { IdempotencyEvent } from "./events.js";
import { createIdempotency } from "./idempotency.js";
import { createMemoryStore } from "./memory-store.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A first attempt that holds its key until `finish` is called, then returns `value`. */
function heldFirst(idem: ReturnType<typeof createIdempotency>, key: string, value = "first") {
  let finish!: () => void;
  const gate = new Promise<void>((resolve) => (finish = resolve));
  let started!: () => void;
  const running = new Promise<void>((resolve) => (started = resolve));
  const done = idem.run({ key }, async () => {
    started();
    await gate;
    return value;
  });
  return { running, finish, done };
}

describe("waitForInFlight waits as long as it says (issue 13, item 5)", () => {
  it("a waiter gives up with ConflictError no sooner than timeoutMs", async () => {
    const idem = createIdempotency({ store: createMemoryStore() });
    const first = heldFirst(idem, "k");
    await first.running;
    const started = performance.now();
    const error = await idem
      .run({ key: "k", waitForInFlight: { timeoutMs: 300, pollMs: 20 } }, () => "second")
      .catch((e) => e);
    const waited = performance.now() - started;
    expect(error).toBeInstanceOf(ConflictError);
    // Before the fix it stopped once the next backoff step would pass the deadline: at ~140 ms.
    expect(waited).toBeGreaterThanOrEqual(300);
    first.finish();
    expect(await first.done).toBe("first");
  });

  it("replays an outcome completed after the last full backoff step but before the deadline", async () => {
    const idem = createIdempotency({ store: createMemoryStore() });
    const first = heldFirst(idem, "k");
    await first.running;
    // Polls at 0, 20, 60 and 140 ms; the next step (160 ms) would pass the deadline, so the last
    // sleep is cut to end on it (300 ms) and one more claim sees the outcome stored at ~200 ms.
    const waiter = idem.execute({ key: "k", waitForInFlight: { timeoutMs: 300, pollMs: 20 } }, () => "x");
    setTimeout(first.finish, 200);
    expect(await waiter).toEqual({ value: "first", replayed: true });
  });

  it("a waiter that gives up emits one conflict event, with the time it waited, not one per poll", async () => {
    const events: IdempotencyEvent[] = [];
    const idem = createIdempotency({ store: createMemoryStore(), onEvent: (e) => events.push(e) });
    const first = heldFirst(idem, "k");
    await first.running;
    const waiters = Array.from({ length: 19 }, () =>
      idem.run({ key: "k", waitForInFlight: { timeoutMs: 300, pollMs: 20 } }, () => "x").catch((e) => e),
    );
    for (const error of await Promise.all(waiters)) expect(error).toBeInstanceOf(ConflictError);
    const conflicts = events.filter((e) => e.type === "conflict");
    expect(conflicts).toHaveLength(19); // 76 before the fix: one per poll
    for (const e of conflicts) expect(e.type === "conflict" && e.durationMs).toBeGreaterThanOrEqual(300);
    first.finish();
    await first.done;
  });

  it("waiters that end up replaying emit one replayed event each and no conflict", async () => {
    const events: IdempotencyEvent[] = [];
    const idem = createIdempotency({ store: createMemoryStore(), onEvent: (e) => events.push(e) });
    const first = heldFirst(idem, "k");
    await first.running;
    const waiters = Array.from({ length: 19 }, () =>
      idem.execute({ key: "k", waitForInFlight: { timeoutMs: 5_000, pollMs: 20 } }, () => "x"),
    );
    await sleep(150);
    first.finish();
    for (const result of await Promise.all(waiters))
      expect(result).toEqual({ value: "first", replayed: true });
    expect(events.filter((e) => e.type === "conflict")).toHaveLength(0);
    const replayed = events.filter((e) => e.type === "replayed");
    expect(replayed).toHaveLength(19);
    // The wait is part of how long the request took to be decided.
    for (const e of replayed) expect(e.type === "replayed" && e.durationMs).toBeGreaterThanOrEqual(140);
  });

  it("a plain claim (no wait) still reports each conflict", async () => {
    const events: IdempotencyEvent[] = [];
    const idem = createIdempotency({ store: createMemoryStore(), onEvent: (e) => events.push(e) });
    const first = heldFirst(idem, "k");
    await first.running;
    for (let i = 0; i < 3; i++)
      await expect(idem.run({ key: "k" }, () => "x")).rejects.toThrow(ConflictError);
    expect(events.filter((e) => e.type === "conflict")).toHaveLength(3);
    first.finish();
    await first.done;
  });
});
