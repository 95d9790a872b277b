import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { CallDeadlines } from "./call-deadlines.js";

describe("CallDeadlines", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("expires a pending call after ms, not before, and an ended one never", () => {
    const deadlines = new CallDeadlines(100);
    const expired: string[] = [];
    deadlines.start(() => expired.push("pending"));
    const ended = deadlines.start(() => expired.push("ended"));
    deadlines.end(ended);
    vi.advanceTimersByTime(99);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(expired).toEqual(["pending"]);
    vi.advanceTimersByTime(1000);
    expect(expired).toEqual(["pending"]);
  });

  it("expires each call at its own deadline, in the order they began", () => {
    const deadlines = new CallDeadlines(100);
    const expired: [string, number][] = [];
    const at = (name: string) => () => expired.push([name, performance.now()]);
    const t0 = performance.now();
    deadlines.start(at("a"));
    vi.advanceTimersByTime(30);
    const b = deadlines.start(at("b"));
    vi.advanceTimersByTime(30);
    deadlines.start(at("c"));
    deadlines.end(b);
    vi.advanceTimersByTime(300);
    expect(expired).toEqual([
      ["a", t0 + 100],
      ["c", t0 + 160],
    ]);
  });

  it("gives a call started after the list emptied its full time (the timer left armed is not its deadline)", () => {
    const deadlines = new CallDeadlines(1000);
    const expired: number[] = [];
    const t0 = performance.now();
    deadlines.end(deadlines.start(() => expired.push(-1)));
    vi.advanceTimersByTime(600);
    deadlines.start(() => expired.push(performance.now() - t0));
    vi.advanceTimersByTime(999);
    expect(expired).toEqual([]); // the first timer fired at 1000 with nothing due, and re-armed
    vi.advanceTimersByTime(1);
    expect(expired).toEqual([1600]);
  });

  it("keeps ending harmless when repeated or after expiry", () => {
    const deadlines = new CallDeadlines(10);
    let runs = 0;
    const d = deadlines.start(() => runs++);
    vi.advanceTimersByTime(10);
    deadlines.end(d);
    deadlines.end(d);
    const e = deadlines.start(() => runs++);
    deadlines.end(e);
    deadlines.end(e);
    vi.advanceTimersByTime(100);
    expect(runs).toBe(1);
  });
});

describe("CallDeadlines and the process", () => {
  // Node lists a timer among the active resources only while it holds the process open (ref'd).
  const holding = () => process.getActiveResourcesInfo().filter((name) => name === "Timeout").length;

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
});

describe("CallDeadlines and a test's fake timers", () => {
  it("arms a timer of the current clock after fake timers were installed or removed", async () => {
    const deadlines = new CallDeadlines(50);
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
    deadlines.end(deadlines.start(() => {})); // armed on the fake clock, which goes away
    vi.useRealTimers();
    const expired = await new Promise<boolean>((resolve) => {
      deadlines.start(() => resolve(true));
      setTimeout(() => resolve(false), 2_000).unref();
    });
    expect(expired).toBe(true);
    // And the other way: armed on the real clock, then a fake one installed.
    const later = new CallDeadlines(50);
    later.end(later.start(() => {}));
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
    try {
      let fired = false;
      later.start(() => {
        fired = true;
      });
      vi.advanceTimersByTime(50);
      expect(fired).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });
});
