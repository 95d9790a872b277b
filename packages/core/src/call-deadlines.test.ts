import { afterEach, describe, expect, it, vi } from "vitest";
import { CallDeadlines } from "./call-deadlines.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
// Node lists a timer among the active resources only while it holds the process open (ref'd).
const holding = () => process.getActiveResourcesInfo().filter((name) => name === "Timeout").length;

/** Starts a deadline; `expired` says whether it has expired yet (for fake clocks, read synchronously). */
function flagged(deadlines: CallDeadlines): { expired: boolean } {
  const flag = { expired: false };
  deadlines.start(() => {
    flag.expired = true;
  });
  return flag;
}

/** Starts a deadline; the promise says how long after its start it expired. */
function expiry(deadlines: CallDeadlines): {
  elapsed: Promise<number>;
  deadline: ReturnType<CallDeadlines["start"]>;
} {
  const started = performance.now();
  let done: (ms: number) => void = () => {};
  const elapsed = new Promise<number>((resolve) => {
    done = resolve;
  });
  const deadline = deadlines.start(() => done(performance.now() - started));
  return { elapsed, deadline };
}

// The shared timer runs on the real clock: these wait for real, with bounds only from below (a
// deadline never expires early) and an order, never a duration from above.
describe("CallDeadlines", () => {
  it("expires a pending call no sooner than ms after it began, and an ended one never", async () => {
    const deadlines = new CallDeadlines(80);
    const pending = expiry(deadlines);
    let endedRan = false;
    deadlines.end(
      deadlines.start(() => {
        endedRan = true;
      }),
    );
    expect(await pending.elapsed).toBeGreaterThanOrEqual(80);
    await sleep(120);
    expect(endedRan).toBe(false);
  });

  it("expires calls in the order they began, each at its own deadline", async () => {
    const deadlines = new CallDeadlines(80);
    const order: string[] = [];
    const a = expiry(deadlines);
    void a.elapsed.then(() => order.push("a"));
    await sleep(20);
    const b = expiry(deadlines);
    await sleep(20);
    const c = expiry(deadlines);
    void c.elapsed.then(() => order.push("c"));
    deadlines.end(b.deadline);
    const [ea, ec] = await Promise.all([a.elapsed, c.elapsed]);
    expect(order).toEqual(["a", "c"]);
    expect(ea).toBeGreaterThanOrEqual(80);
    expect(ec).toBeGreaterThanOrEqual(80);
  });

  it("gives a call started after the list emptied its full time (the timer left armed is not its deadline)", async () => {
    const deadlines = new CallDeadlines(100);
    deadlines.end(deadlines.start(() => {}));
    await sleep(60);
    expect(await expiry(deadlines).elapsed).toBeGreaterThanOrEqual(100);
  });

  it("keeps ending harmless when repeated or after expiry", async () => {
    const deadlines = new CallDeadlines(20);
    const first = expiry(deadlines);
    await first.elapsed;
    deadlines.end(first.deadline);
    deadlines.end(first.deadline);
    let runs = 0;
    const second = deadlines.start(() => runs++);
    deadlines.end(second);
    deadlines.end(second);
    await sleep(60);
    expect(runs).toBe(0);
  });

  it("expires every due call even if one expire throws, then rethrows", () => {
    const deadlines = new CallDeadlines(10);
    const ran: string[] = [];
    deadlines.start(() => {
      ran.push("a");
      throw new Error("a");
    });
    deadlines.start(() => ran.push("b"));
    // Past both deadlines before the timer could run (this test holds the thread), then the
    // timer's own call.
    const until = performance.now() + 15;
    while (performance.now() < until) {}
    expect(() => deadlines.tick()).toThrow("a");
    expect(ran).toEqual(["a", "b"]);
  });

  it("does not expire a due call that an earlier expire of the same firing ended", () => {
    const deadlines = new CallDeadlines(10);
    const ran: string[] = [];
    let second: ReturnType<CallDeadlines["start"]> | undefined;
    deadlines.start(() => {
      ran.push("a");
      deadlines.end(second); // as a batch whose first call times out settles the rest
    });
    second = deadlines.start(() => ran.push("b"));
    const until = performance.now() + 15;
    while (performance.now() < until) {}
    deadlines.tick();
    expect(ran).toEqual(["a"]);
  });
});

describe("CallDeadlines and the process", () => {
  it("holds the process open while a call is pending, and not once none is", () => {
    const deadlines = new CallDeadlines(60_000);
    const before = holding();
    const first = deadlines.start(() => {});
    const second = deadlines.start(() => {});
    expect(holding()).toBe(before + 1); // one timer for both
    deadlines.end(first);
    expect(holding()).toBe(before + 1);
    deadlines.end(second);
    expect(holding()).toBe(before);
    // The timer left armed holds the process again for the next call, and lets go after it.
    const third = deadlines.start(() => {});
    expect(holding()).toBe(before + 1);
    deadlines.end(third);
    expect(holding()).toBe(before);
  });

  it("arms one timer when an expire starts another call", async () => {
    const deadlines = new CallDeadlines(30);
    let next: ReturnType<CallDeadlines["start"]> | undefined;
    let inExpire = 0;
    const expired = new Promise<void>((resolve) => {
      deadlines.start(() => {
        next = deadlines.start(() => {});
        inExpire = holding();
        resolve();
      });
    });
    await expired;
    await new Promise((resolve) => setImmediate(resolve)); // the timer's callback has returned
    // Node counts a timer until its callback has returned: the one that fired is gone now, and no
    // second timer was armed after the expire (the count is process-wide: another test's timer may
    // have ended meanwhile, never started, as the tests of a file run one at a time).
    expect(holding()).toBeLessThanOrEqual(inExpire - 1);
    const beforeEnd = holding();
    if (next) deadlines.end(next);
    expect(holding()).toBe(beforeEnd - 1);
  });
});

describe("CallDeadlines' ms", () => {
  it("is a whole number of milliseconds a Node timer can hold, or a RangeError when given", () => {
    for (const ms of [0, -1, 1.5, 2 ** 31, Number.POSITIVE_INFINITY, Number.NaN, "100", undefined]) {
      expect(() => new CallDeadlines(ms as number)).toThrow(RangeError);
    }
    expect(new CallDeadlines(1).ms).toBe(1);
    expect(new CallDeadlines(2 ** 31 - 1).ms).toBe(2 ** 31 - 1);
  });
});

describe("CallDeadlines under a test's fake timers", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("times a call out when the fake clock has moved ms, and leaves no fake timer behind", () => {
    const deadlines = new CallDeadlines(100);
    vi.useFakeTimers();
    const call = flagged(deadlines);
    vi.advanceTimersByTime(99);
    expect(call.expired).toBe(false);
    vi.advanceTimersByTime(1);
    expect(call.expired).toBe(true);
    deadlines.end(deadlines.start(() => {}));
    expect(vi.getTimerCount()).toBe(0);
  });

  it("under a fake clock and real timers gives each call a real timer of its own that holds the process", () => {
    const deadlines = new CallDeadlines(60_000);
    const before = holding();
    vi.useFakeTimers({ toFake: ["performance"] });
    const call = deadlines.start(() => {});
    expect(holding()).toBe(before + 1);
    deadlines.end(call);
    expect(holding()).toBe(before);
  });

  it("times a call out on fake timers that leave the clock real", () => {
    const deadlines = new CallDeadlines(1_000);
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const call = flagged(deadlines);
    vi.advanceTimersByTime(1_000);
    expect(call.expired).toBe(true);
  });

  it("still expires a call begun on the real clock when fake timers come and go meanwhile", async () => {
    const deadlines = new CallDeadlines(60);
    const real = expiry(deadlines);
    vi.useFakeTimers();
    const fake = flagged(deadlines);
    vi.advanceTimersByTime(60);
    expect(fake.expired).toBe(true);
    vi.useRealTimers();
    expect(await real.elapsed).toBeGreaterThanOrEqual(60);
    // And a call after the fake clock went is timed on the real one again.
    expect(await expiry(deadlines).elapsed).toBeGreaterThanOrEqual(60);
  });
});
