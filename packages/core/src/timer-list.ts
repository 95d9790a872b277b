import { callEach } from "./call-each.js";
import { now as clock, faked, realClearTimeout, realSetTimeout, type Timer } from "./real-clock.js";

/** A waiter on a `TimerList`: its place in the list (soonest first), or a timer of its own. */
export abstract class TimerEntry {
  at = 0;
  sooner: TimerEntry | undefined = undefined;
  later: TimerEntry | undefined = undefined;
  linked = false;
  /** Taken off the list by the firing in progress, to be woken by it unless cancelled or set anew first. */
  due = false;
  /** Under fake timers: this entry's own timer, and the `clearTimeout` of its clock. */
  timer: Timer | undefined = undefined;
  clear: typeof clearTimeout | undefined = undefined;

  /** Runs once the entry's time has come (from the list's timer: it must not throw, or it is rethrown there). */
  abstract wake(): void;
}

/**
 * Waiters woken at given times by one timer: a list of them, soonest first, and one timer, armed for
 * the soonest. Its users set times that only grow (a store's calls all get the same timeout; a lease
 * moves its next event forward), so a waiter almost always joins at the end; an earlier one is placed by
 * walking back from the end. A waiter set again for the time it has stays where it is (on the real
 * clock: under fake timers it gets a new timer, after others due at the same time).
 *
 * Why not a `setTimeout` each: making, unref'ing and clearing one costs Node 150–320 ns, and about a
 * microsecond when no other timer is pending (Node makes and drops a timer list each time); the
 * `Timeout` objects are garbage. Here a waiter costs a few links. The timer is left armed when the list
 * empties (the next waiter would arm it again a moment later); when it fires with nothing due it re-arms
 * for the soonest waiter left, or stops.
 *
 * A waiter keeps its exact time, not one rounded to Node's whole milliseconds, and is woken only once the
 * clock has reached it: Node's timers fire up to a millisecond early by `performance.now()`, and then the
 * timer is armed again rather than waking anyone early.
 *
 * `holdsOpen` says whether a pending waiter holds the process open, as its own ref'd timer would: the
 * timer is unref'd whenever the list is empty (or always, without `holdsOpen`), and cleared as the list
 * empties where timers cannot be unref'd (browsers, Workers). While a test fakes the timers or the clock
 * (after core loaded: real-clock.ts), each waiter gets a timer of its own on the fake clock instead, so
 * advancing that clock wakes it as a `setTimeout` each did; one set on the fake clock dies with it. Fakes
 * installed before core loads are its real timers: the list then runs on them, and its timer, left armed
 * as the list empties, stays among the fake ones.
 */
export class TimerList {
  #soonest: TimerEntry | undefined;
  #latest: TimerEntry | undefined;
  #timer: Timer | undefined;
  /** When the timer is armed for (`Infinity` when it is not). */
  #timerAt = Number.POSITIVE_INFINITY;

  constructor(readonly holdsOpen: boolean) {}

  /**
   * Wakes the entry at `at`, instead of any earlier setting. `at` and `now` are `performance.now()`
   * readings: the real clock's unless a test fakes it, and then only `at - now` counts. `delay` is that
   * in whole milliseconds, rounded up as Node's timers count them; a caller that knows it gives it, as
   * `(now + ms) - now` may come out a hair over `ms` and round up a millisecond more.
   */
  set(entry: TimerEntry, at: number, now: number, delay = Math.max(0, Math.ceil(at - now))): void {
    if (entry.linked && entry.at === at) return;
    this.cancel(entry);
    if (faked()) {
      entry.clear = clearTimeout;
      entry.timer = setTimeout(wakeAlone, delay, entry) as Timer;
      if (!this.holdsOpen) entry.timer.unref?.();
      return;
    }
    entry.at = at;
    entry.linked = true;
    let sooner = this.#latest;
    while (sooner !== undefined && sooner.at > at) sooner = sooner.sooner;
    const later = sooner === undefined ? this.#soonest : sooner.later;
    entry.sooner = sooner;
    entry.later = later;
    if (sooner === undefined) this.#soonest = entry;
    else sooner.later = entry;
    if (later === undefined) this.#latest = entry;
    else later.sooner = entry;
    if (at < this.#timerAt) this.#arm(at, delay);
    else if (this.holdsOpen && sooner === undefined && later === undefined) this.#timer?.ref?.();
  }

  /** The entry is not woken, not even by a firing in progress. Harmless if it was not set, or was woken. */
  cancel(entry: TimerEntry): void {
    entry.due = false;
    if (entry.timer !== undefined) {
      entry.clear?.(entry.timer);
      entry.timer = entry.clear = undefined;
    }
    if (!entry.linked) return;
    this.#unlink(entry);
    const timer = this.#timer;
    if (this.#soonest !== undefined || timer === undefined) return;
    if (typeof timer.unref !== "function") {
      realClearTimeout(timer);
      this.#timer = undefined;
      this.#timerAt = Number.POSITIVE_INFINITY;
    } else if (this.holdsOpen) timer.unref();
  }

  #unlink(entry: TimerEntry): void {
    entry.linked = false;
    const { sooner, later } = entry;
    if (sooner === undefined) this.#soonest = later;
    else sooner.later = later;
    if (later === undefined) this.#latest = sooner;
    else later.sooner = sooner;
    entry.sooner = entry.later = undefined;
  }

  /** Arms the timer for `at`, `delay` whole milliseconds from now. */
  #arm(at: number, delay: number): void {
    if (this.#timer !== undefined) realClearTimeout(this.#timer);
    this.#timerAt = at;
    const timer = realSetTimeout(fire, delay, this) as Timer;
    if (!this.holdsOpen) timer.unref?.();
    this.#timer = timer;
  }

  /**
   * The timer fired: the due entries leave the list, the timer is armed for the soonest left, then each
   * due entry wakes, soonest first, unless a wake before it cancelled or set it anew (each one, even if
   * one of them throws; the first throw is rethrown).
   */
  tick(): void {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const now = clock();
    const due: TimerEntry[] = [];
    for (let soonest = this.#soonest; soonest !== undefined && soonest.at <= now; soonest = this.#soonest) {
      this.#unlink(soonest);
      soonest.due = true;
      due.push(soonest);
    }
    const next = this.#soonest;
    if (next !== undefined) this.#arm(next.at, Math.max(0, Math.ceil(next.at - now)));
    callEach(due, wakeIfDue);
  }
}

function wakeIfDue(entry: TimerEntry): void {
  if (!entry.due) return;
  entry.due = false;
  entry.wake();
}

function fire(list: TimerList): void {
  list.tick();
}

function wakeAlone(entry: TimerEntry): void {
  entry.timer = entry.clear = undefined;
  entry.wake();
}
