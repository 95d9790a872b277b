import { afterEach, describe, expect, it, vi } from "vitest";
import { Engine } from "./engine.js";
import { ConflictError, IdempotencyError } from "./errors.js";
import { EventStream, type IdempotencyEvent } from "./events.js";
import { createIdempotency } from "./idempotency.js";
import { createMemoryStore } from "./memory-store.js";
import type { IdempotencyStore } from "./store.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function recorder() {
  const events: IdempotencyEvent[] = [];
  return { events, onEvent: (e: IdempotencyEvent) => events.push(e) };
}

/** Work that starts, records its signal's abort, and settles only when `settle` is called. */
function stuckWork<T>() {
  const state = { abortedAt: undefined as number | undefined, reason: undefined as unknown };
  let settle!: (value: T) => void;
  let started!: () => void;
  const running = new Promise<void>((resolve) => (started = resolve));
  const work = ({ signal }: { signal: AbortSignal }) => {
    signal.addEventListener("abort", () => {
      state.abortedAt = performance.now();
      state.reason = signal.reason;
    });
    started();
    return new Promise<T>((resolve) => (settle = resolve));
  };
  return { state, work, running, settle: (value: T) => settle(value) };
}

describe("the maximum hold (issue 13, item 6)", () => {
  afterEach(() => vi.useRealTimers());

  it("a handler that never settles holds its key for maxHoldMs plus at most a lease; its signal fires; then the key runs again", async () => {
    const rec = recorder();
    const idem = createIdempotency({
      store: createMemoryStore(),
      leaseMs: 200,
      maxHoldMs: 500,
      onEvent: rec.onEvent,
    });
    const stuck = stuckWork<string>();
    const startedAt = performance.now();
    void idem.run({ key: "k" }, stuck.work);
    await stuck.running;
    // Within the maximum hold the lease is renewed: every retry is a conflict.
    for (const at of [100, 300, 450]) {
      await sleep(startedAt + at - performance.now());
      await expect(idem.run({ key: "k" }, () => "again")).rejects.toBeInstanceOf(ConflictError);
    }
    expect(stuck.state.abortedAt).toBeUndefined();
    // Past it the lease is no longer renewed: the key frees when the last renewal ends.
    let value: string | undefined;
    while (value === undefined) {
      expect(performance.now() - startedAt).toBeLessThan(5_000);
      await sleep(20);
      value = await idem
        .run({ key: "k" }, ({ fence }) => `ran with fence ${fence}`)
        .catch((e) => {
          expect(e).toBeInstanceOf(ConflictError);
          return undefined;
        });
    }
    const freedAfter = performance.now() - startedAt;
    expect(value).toBe("ran with fence 2");
    expect(freedAfter).toBeGreaterThanOrEqual(500);
    expect(stuck.state.abortedAt! - startedAt).toBeGreaterThanOrEqual(450);
    expect(stuck.state.abortedAt! - startedAt).toBeLessThan(freedAfter);
    expect(stuck.state.reason).toBeInstanceOf(IdempotencyError);
    expect(stuck.state.reason).toMatchObject({ name: "MaxHoldExceededError", code: "max_hold_exceeded" });
    expect((stuck.state.reason as Error).message).toMatch(/maxHoldMs \(500 ms\)/);
    const lost = rec.events.filter((e) => e.type === "lease-lost");
    expect(lost).toEqual([expect.objectContaining({ key: "idem:run:0::k", fence: 1, phase: "max-hold" })]);
    // The retry that ran again took the expired lease over.
    expect(rec.events.filter((e) => e.type === "takeover")).toHaveLength(1);
    stuck.settle("late"); // settles after the key ran again: its completion is refused
  });

  it("stops renewing at maxHoldMs: the key frees when the last renewal ends, at most leaseMs later", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
    const inner = createMemoryStore({ now: () => performance.now() });
    const extends_: number[] = [];
    const store: IdempotencyStore = {
      ...inner,
      extend: (key, token, leaseMs) => {
        extends_.push(performance.now());
        return inner.extend(key, token, leaseMs);
      },
    };
    const rec = recorder();
    const events = new EventStream();
    events.on(rec.onEvent);
    const engine = new Engine({ store, leaseMs: 1000, heartbeatMs: 300, maxHoldMs: 2000 }, events);
    const decision = await engine.claim("k", "fp");
    if (decision.kind !== "acquired") throw new Error(`expected acquired, got ${decision.kind}`);
    const { signal } = decision.lease;
    await vi.advanceTimersByTimeAsync(1999);
    expect(signal.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toMatchObject({ code: "max_hold_exceeded" });
    expect(extends_).toEqual([300, 600, 900, 1200, 1500, 1800]);
    // No renewal from now on; the lease renewed at 1800 ends at 2800.
    await vi.advanceTimersByTimeAsync(799);
    expect(extends_).toHaveLength(6);
    const other = { token: "other", fingerprint: "fp", leaseMs: 1000, retentionMs: 60_000 };
    expect((await inner.claim("k", other)).acquired).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await inner.claim("k", other)).toEqual({ acquired: true, fence: 2, takeover: true });
    expect(
      rec.events.filter((e) => e.type === "lease-lost").map((e) => e.type === "lease-lost" && e.phase),
    ).toEqual(["max-hold"]);
    // Its completion, now, is refused: the new owner's record stands, and no second event.
    expect(await decision.lease.complete(Uint8Array.of(1))).toBe("lease-lost");
    expect(await inner.get("k")).toMatchObject({ state: "in_progress", token: "other", fence: 2 });
    expect(rec.events.filter((e) => e.type === "lease-lost")).toHaveLength(1);
  });

  it("a handler that finishes after its signal fired, while its last renewal lasts, has its outcome stored", async () => {
    const rec = recorder();
    const idem = createIdempotency({
      store: createMemoryStore(),
      leaseMs: 300,
      maxHoldMs: 400,
      onEvent: rec.onEvent,
    });
    let sawReason: unknown;
    // Stops at the signal, as work should, and returns what it has.
    const result = await idem.execute({ key: "k" }, ({ signal }) => {
      return new Promise<string>((resolve) => {
        signal.addEventListener("abort", () => {
          sawReason = signal.reason;
          resolve("partial");
        });
      });
    });
    expect(result).toEqual({ value: "partial", replayed: false });
    expect(sawReason).toMatchObject({ code: "max_hold_exceeded" });
    expect(await idem.execute({ key: "k" }, () => "again")).toEqual({ value: "partial", replayed: true });
    const decisions = rec.events.filter((e) => e.type !== "store-call" && e.type !== "finished");
    expect(decisions.map((e) => e.type)).toEqual(["claimed", "lease-lost", "completed", "replayed"]);
  });

  it("a handler that finishes after its last renewal ended: its completion is refused (ConflictError), the key runs again", async () => {
    const store = createMemoryStore();
    const idem = createIdempotency({ store, leaseMs: 100, maxHoldMs: 200 });
    const stuck = stuckWork<string>();
    const first = idem.run({ key: "k" }, stuck.work);
    await stuck.running;
    await sleep(500); // past the maximum hold and the last renewal: nobody took the key over
    expect(await store.get("idem:run:0::k")).toBeUndefined();
    stuck.settle("late");
    // The store refuses a completion on an expired lease, taken over or not: at most once per lease.
    await expect(first).rejects.toBeInstanceOf(ConflictError);
    expect(await idem.run({ key: "k" }, () => "second")).toBe("second");
  });

  it("a handler that finishes after another owner completed the key gets that owner's value", async () => {
    const idem = createIdempotency({ store: createMemoryStore(), leaseMs: 100, maxHoldMs: 200 });
    const stuck = stuckWork<string>();
    const first = idem.run({ key: "k" }, stuck.work);
    await stuck.running;
    await sleep(500);
    expect(await idem.run({ key: "k" }, () => "second")).toBe("second");
    stuck.settle("late");
    expect(await first).toBe("second");
  });

  it("a work that throws after its signal fired releases the key at once (while the last renewal lasts)", async () => {
    const idem = createIdempotency({ store: createMemoryStore(), leaseMs: 300, maxHoldMs: 300 });
    const failed = idem.run({ key: "k" }, ({ signal }) => {
      return new Promise<string>((_resolve, reject) => {
        signal.addEventListener("abort", () => reject(signal.reason));
      });
    });
    await expect(failed).rejects.toMatchObject({ code: "max_hold_exceeded" });
    expect(await idem.run({ key: "k" }, ({ fence }) => fence)).toBe(2);
  });

  it("defaults to one hour; Infinity renews for as long as the work runs", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
    const hour = 60 * 60 * 1000;
    const store = createMemoryStore({ now: () => performance.now() });
    const byDefault = new Engine({ store }, new EventStream());
    const unbounded = new Engine({ store, maxHoldMs: Number.POSITIVE_INFINITY }, new EventStream());
    expect(byDefault.maxHoldMs).toBe(hour);
    expect(new Engine({ store, leaseMs: 2 * hour }, new EventStream()).maxHoldMs).toBe(2 * hour);
    const held = await byDefault.claim("a", "fp");
    const forever = await unbounded.claim("b", "fp");
    if (held.kind !== "acquired" || forever.kind !== "acquired") throw new Error("expected acquired");
    await vi.advanceTimersByTimeAsync(hour - 1);
    expect(held.lease.signal.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(held.lease.signal.aborted).toBe(true);
    await vi.advanceTimersByTimeAsync(2 * hour);
    expect(forever.lease.signal.aborted).toBe(false);
    expect(await store.get("a")).toBeUndefined();
    expect(await store.get("b")).toMatchObject({ state: "in_progress" });
    held.lease.abandon();
    forever.lease.abandon();
  });

  it("a lost lease's signal reason is a LeaseLostError with code lease_lost", async () => {
    const store = createMemoryStore();
    const idem = createIdempotency({ store, leaseMs: 150 });
    const stuck = stuckWork<string>();
    const first = idem.run({ key: "k" }, stuck.work);
    await stuck.running;
    await store.delete("idem:run:0::k"); // an operator purge: the next heartbeat is refused
    await sleep(200);
    expect(stuck.state.reason).toBeInstanceOf(IdempotencyError);
    expect(stuck.state.reason).toMatchObject({ name: "LeaseLostError", code: "lease_lost" });
    stuck.settle("late");
    await expect(first).rejects.toBeInstanceOf(ConflictError);
  });
});
