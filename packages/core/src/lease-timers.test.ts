import { createHook } from "node:async_hooks";
import { describe, expect, it, vi } from "vitest";
import { ConflictError } from "./errors.js";
import type { IdempotencyEvent } from "./events.js";
import { createIdempotency } from "./idempotency.js";
import { LeaseAlarm, LeaseTimers } from "./lease-timers.js";
import { createMemoryStore } from "./memory-store.js";
import type { IdempotencyStore } from "./store.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
// Node lists a timer among the active resources only while it holds the process open (ref'd).
const holding = () => process.getActiveResourcesInfo().filter((name) => name === "Timeout").length;

/** Sets the alarm for `ms` from now. */
function setIn(timers: LeaseTimers, alarm: LeaseAlarm, ms: number): void {
  const now = performance.now();
  timers.set(alarm, now + ms, now);
}

/** An alarm whose ticks are noted in `ticks` by name, with how long after `from` each came. */
function noting(name: string, ticks: { name: string; after: number }[], from: number) {
  return new LeaseAlarm({ tick: () => ticks.push({ name, after: performance.now() - from }) });
}

/** Counts the Node timers (`Timeout` resources) made while `body` runs, whatever made them. */
async function timersMadeBy(body: () => Promise<void>): Promise<number> {
  let made = 0;
  const hook = createHook({
    init(_id, type) {
      if (type === "Timeout") made++;
    },
  }).enable();
  try {
    await body();
  } finally {
    hook.disable();
  }
  return made;
}

// The shared timer runs on the real clock: these wait for real, with bounds only from below (an alarm
// never wakes its lease early) and an order, never a duration from above.
describe("LeaseTimers", () => {
  it("wakes each lease no sooner than its delay, soonest first, whatever order they were set in", async () => {
    const timers = new LeaseTimers();
    const ticks: { name: string; after: number }[] = [];
    const from = performance.now();
    setIn(timers, noting("b", ticks, from), 40);
    setIn(timers, noting("c", ticks, from), 80);
    setIn(timers, noting("a", ticks, from), 20); // sooner than the armed timer: re-armed for it
    setIn(timers, noting("zero", ticks, from), 0);
    await sleep(150);
    expect(ticks.map((tick) => tick.name)).toEqual(["zero", "a", "b", "c"]);
    const after = Object.fromEntries(ticks.map((tick) => [tick.name, tick.after]));
    expect(after.a).toBeGreaterThanOrEqual(20);
    expect(after.b).toBeGreaterThanOrEqual(40);
    expect(after.c).toBeGreaterThanOrEqual(80);
  });

  it("re-arms for an alarm set sooner than the armed timer: it wakes before a plain timer due after it", async () => {
    const timers = new LeaseTimers();
    const woken: string[] = [];
    setIn(timers, new LeaseAlarm({ tick: () => woken.push("late") }), 500);
    setIn(timers, new LeaseAlarm({ tick: () => woken.push("soon") }), 20);
    // Node runs timers in the order they are due, however late the machine runs them.
    await sleep(40);
    expect(woken).toEqual(["soon"]);
  });

  it("never wakes a cancelled lease, and a lease set again only at its new time", async () => {
    const timers = new LeaseTimers();
    const ticks: { name: string; after: number }[] = [];
    const from = performance.now();
    const cancelled = noting("cancelled", ticks, from);
    const moved = noting("moved", ticks, from);
    setIn(timers, cancelled, 10);
    setIn(timers, moved, 10);
    timers.cancel(cancelled);
    timers.cancel(cancelled); // harmless twice
    setIn(timers, moved, 60);
    await sleep(120);
    expect(ticks.map((tick) => tick.name)).toEqual(["moved"]);
    expect(ticks[0]!.after).toBeGreaterThanOrEqual(60);
  });

  it("wakes every due lease when one of them throws, and rethrows the first throw", async () => {
    const timers = new LeaseTimers();
    const woken: string[] = [];
    const alarm = (name: string, throws: boolean) =>
      new LeaseAlarm({
        tick: () => {
          woken.push(name);
          if (throws) throw new Error(`${name} threw`);
        },
      });
    setIn(timers, alarm("first", true), 0);
    setIn(timers, alarm("second", true), 0);
    setIn(timers, alarm("third", false), 0);
    // Due at once: ticked here to catch what it throws (their timer fires later, with nothing due).
    expect(() => timers.tick()).toThrow("first threw");
    expect(woken).toEqual(["first", "second", "third"]);
  });

  it("wakes a lease whose exact time has come, though Node's whole milliseconds have not", () => {
    const timers = new LeaseTimers();
    const woken: string[] = [];
    const now = performance.now();
    timers.set(new LeaseAlarm({ tick: () => woken.push("due") }), now + 2.2, now);
    while (performance.now() < now + 2.3) {} // past its time, before it rounded up to whole ms would be
    timers.tick(); // as Node's timer may fire, up to a millisecond before its whole ms by performance.now()
    expect(woken).toEqual(["due"]);
  });

  it("leaves an alarm set again for the time it has where it is (a renewal confirmed before the next heartbeat)", async () => {
    const timers = new LeaseTimers();
    const ticks: { name: string; after: number }[] = [];
    const now = performance.now();
    const first = noting("first", ticks, now);
    timers.set(first, now + 20, now);
    timers.set(noting("second", ticks, now), now + 20, now);
    timers.set(first, now + 20, performance.now());
    await sleep(60);
    expect(ticks.map((tick) => tick.name)).toEqual(["first", "second"]);
  });

  it("does not wake a lease whose alarm an earlier lease of the same firing cancelled or set anew", async () => {
    const timers = new LeaseTimers();
    const woken: { name: string; after: number }[] = [];
    const from = performance.now();
    const cancelled = noting("cancelled", woken, from);
    const moved = noting("moved", woken, from);
    const first = new LeaseAlarm({
      tick: () => {
        woken.push({ name: "first", after: performance.now() - from });
        timers.cancel(cancelled);
        setIn(timers, moved, 50);
      },
    });
    setIn(timers, first, 5);
    setIn(timers, cancelled, 5);
    setIn(timers, moved, 5);
    await sleep(100);
    expect(woken.map((tick) => tick.name)).toEqual(["first", "moved"]);
    expect(woken[1]!.after).toBeGreaterThanOrEqual(55);
  });

  it("holds the process open for no lease", async () => {
    const timers = new LeaseTimers();
    const before = holding();
    const alarms = Array.from({ length: 20 }, () => new LeaseAlarm({ tick: () => {} }));
    for (const [i, alarm] of alarms.entries()) setIn(timers, alarm, 1_000 + i);
    expect(holding()).toBe(before);
    for (const alarm of alarms) timers.cancel(alarm);
    // The list is empty and its timer left armed: a lease set now joins it, and holds nothing either.
    const later = new LeaseAlarm({ tick: () => {} });
    setIn(timers, later, 5_000);
    expect(holding()).toBe(before);
    timers.cancel(later);
  });

  it("under a fake clock and real timers gives each lease a real timer of its own that holds nothing", () => {
    const timers = new LeaseTimers();
    const before = holding();
    vi.useFakeTimers({ toFake: ["performance"] });
    try {
      const alarm = new LeaseAlarm({ tick: () => {} });
      setIn(timers, alarm, 60_000);
      expect(holding()).toBe(before);
      timers.cancel(alarm);
    } finally {
      vi.useRealTimers();
    }
  });

  it("under fake timers gives each lease a timer of its own on the fake clock", () => {
    vi.useFakeTimers();
    try {
      const timers = new LeaseTimers();
      const woken: string[] = [];
      setIn(timers, new LeaseAlarm({ tick: () => woken.push("soon") }), 1_000);
      const cancelled = new LeaseAlarm({ tick: () => woken.push("cancelled") });
      setIn(timers, cancelled, 1_000);
      timers.cancel(cancelled);
      expect(vi.getTimerCount()).toBe(1);
      vi.advanceTimersByTime(999);
      expect(woken).toEqual([]);
      vi.advanceTimersByTime(1);
      expect(woken).toEqual(["soon"]);
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("the engine's leases on the shared timer", () => {
  /** The memory store with `extend` counted per key, or never answering (`hang`). */
  function countingStore(hang = false) {
    const inner = createMemoryStore();
    const extends_ = new Map<string, number>();
    const store: IdempotencyStore = {
      ...inner,
      claim: inner.claim.bind(inner),
      complete: inner.complete.bind(inner),
      extend: (key, token, leaseMs) => {
        extends_.set(key, (extends_.get(key) ?? 0) + 1);
        return hang ? new Promise(() => {}) : inner.extend(key, token, leaseMs);
      },
    };
    return { store, extends_ };
  }

  /** The Node timers made while `leases` runs of new keys hold their leases at once on a new instance. */
  async function timersForHeldLeases(leases: number): Promise<number> {
    const idem = createIdempotency({ store: countingStore().store, leaseMs: 30_000 });
    let open = () => {};
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    return timersMadeBy(async () => {
      const runs = Array.from({ length: leases }, (_, i) =>
        idem.run({ key: `held-${i}` }, () => gate.then(() => i)),
      );
      await sleep(10);
      open();
      expect(await Promise.all(runs)).toEqual(Array.from({ length: leases }, (_, i) => i));
    });
  }

  it("makes as many Node timers for fifty leases held at once as for one", async () => {
    const one = await timersForHeldLeases(1);
    expect(await timersForHeldLeases(50)).toBe(one);
  });

  it("renews every held lease on time and stops when each completes", async () => {
    const { store, extends_ } = countingStore();
    // A lease far longer than the test, so a loaded machine's late tick renews late instead of losing it.
    const idem = createIdempotency({ store, leaseMs: 5_000, heartbeatMs: 20 });
    const runs = Array.from({ length: 10 }, (_, i) =>
      idem.run({ key: `beat-${i}` }, async ({ signal }) => {
        await sleep(130);
        return signal.aborted;
      }),
    );
    expect(await Promise.all(runs)).toEqual(Array(10).fill(false));
    const counts = [...extends_.values()];
    expect(counts).toHaveLength(10);
    for (const count of counts) expect(count).toBeGreaterThanOrEqual(2);
    const after = new Map(extends_);
    await sleep(60);
    expect(extends_).toEqual(after);
  });

  it("fires a lease's signal once its renewals go unanswered, no sooner than its lease after the claim", async () => {
    const { store } = countingStore(true);
    // When the store's claim returned: its lease (on the same monotonic clock) ends no later than 60 ms on.
    let claimedAt = Number.NaN;
    const claim = store.claim;
    store.claim = async (key, request) => {
      const result = await claim(key, request);
      claimedAt = performance.now();
      return result;
    };
    const events: IdempotencyEvent[] = [];
    const idem = createIdempotency({ store, leaseMs: 60, heartbeatMs: 20 });
    idem.on((event) => events.push(event));
    const started = performance.now();
    let lostAfter = Number.NaN;
    const run = idem.run({ key: "unanswered" }, async ({ signal }) => {
      await new Promise((resolve) => signal.addEventListener("abort", resolve));
      lostAfter = performance.now() - started;
      // The signal may fire before the store's lease ends or just after it (lease.ts: the local deadline
      // errs early, the timer runs late); completing past the store's end shows a late completion refused.
      await sleep(Math.max(0, claimedAt + 60 + 2 - performance.now()));
    });
    // Its completion comes after the lease ended: refused, as a superseded owner's is.
    await expect(run).rejects.toBeInstanceOf(ConflictError);
    // The deadline counts from when the claim was sent, less the store clock's millisecond.
    expect(lostAfter).toBeGreaterThanOrEqual(60 - 1);
    expect(events.filter((event) => event.type === "lease-lost")).toHaveLength(1);
  });
  it("fires a lease's signal at its deadline, not at the heartbeat after it", async () => {
    const { store } = countingStore(true);
    // The deadline (~99 ms after the claim) falls between the heartbeats at 90 and 180 ms.
    const idem = createIdempotency({ store, leaseMs: 100, heartbeatMs: 90 });
    const sent = performance.now();
    let abortedByThen: boolean | undefined;
    const run = idem.run({ key: "between-beats" }, async ({ signal }) => {
      // A timer due well after the lease's deadline and well before the next heartbeat (180 ms): Node runs
      // timers in the order they are due, so by then the lease's has run, however late both are on a
      // loaded machine. (2 ms after the deadline was too close: Node dates a timer from the loop's cached
      // clock, which a busy machine leaves milliseconds behind, and one CI run saw it wake first.)
      await sleep(Math.ceil(sent + 140 - performance.now()));
      abortedByThen = signal.aborted;
      await sleep(5); // past the store's own end: the completion is refused
    });
    await expect(run).rejects.toBeInstanceOf(ConflictError);
    expect(abortedByThen).toBe(true);
  });
});

describe("LeaseTimers on timers a test fires by hand", () => {
  it("arms its timer for the next alarm before it wakes the due ones, so a wake that throws loses none", async () => {
    // Stubbed before real-clock.ts loads, so the list's timer is one this test fires itself.
    const pending: (() => void)[] = [];
    vi.resetModules();
    vi.stubGlobal("setTimeout", (callback: (...args: unknown[]) => void, _ms: number, ...args: unknown[]) => {
      pending.push(() => callback(...args));
      return { unref() {}, ref() {} };
    });
    vi.stubGlobal("clearTimeout", () => {});
    try {
      const { LeaseAlarm: Alarm, LeaseTimers: Timers } = await import("./lease-timers.js");
      const timers = new Timers();
      const now = performance.now();
      timers.set(new Alarm({ tick: () => {} }), now + 60_000, now);
      timers.set(
        new Alarm({
          tick: () => {
            throw new Error("due threw");
          },
        }),
        now,
        now,
      );
      const fired = pending.pop()!;
      pending.length = 0;
      expect(fired).toThrow("due threw");
      expect(pending).toHaveLength(1); // armed again, for the alarm a minute on
    } finally {
      vi.unstubAllGlobals();
      vi.resetModules();
    }
  });
});

describe("LeaseTimers where timers cannot be unref'd", () => {
  it("leaves no timer pending once no lease waits", async () => {
    // Timers as a browser's: plain ids, no unref. Installed before real-clock.ts loads, so they are the
    // "real" ones the shared timer runs on.
    const pending = new Map<number, ReturnType<typeof setTimeout>>();
    let next = 0;
    const nodeSetTimeout = globalThis.setTimeout;
    const nodeClearTimeout = globalThis.clearTimeout;
    vi.resetModules();
    vi.stubGlobal("setTimeout", (callback: (...args: unknown[]) => void, ms: number, ...args: unknown[]) => {
      const id = ++next;
      pending.set(
        id,
        nodeSetTimeout(() => {
          pending.delete(id);
          callback(...args);
        }, ms),
      );
      return id;
    });
    vi.stubGlobal("clearTimeout", (id: number) => {
      nodeClearTimeout(pending.get(id));
      pending.delete(id);
    });
    try {
      const { LeaseAlarm: Alarm, LeaseTimers: Timers } = await import("./lease-timers.js");
      const timers = new Timers();
      const first = new Alarm({ tick: () => {} });
      const second = new Alarm({ tick: () => {} });
      setIn(timers, first, 5_000);
      setIn(timers, second, 6_000);
      expect(pending.size).toBe(1);
      timers.cancel(first);
      expect(pending.size).toBe(1);
      timers.cancel(second);
      expect(pending.size).toBe(0);
    } finally {
      vi.unstubAllGlobals();
      vi.resetModules();
      for (const timer of pending.values()) nodeClearTimeout(timer);
    }
  });
});
