import { callEach } from "./call-each.js";
import { now as clock, faked, realClearTimeout, realSetTimeout, type Timer } from "./real-clock.js";

/** What a lease's timer wakes: `tick` reads the clock and decides what is due (lease.ts). */
export interface Ticking {
  tick(): void;
}

/** One lease's place in its engine's `LeaseTimers` (a link in the list, soonest first), or a timer of its own. */
export class LeaseAlarm {
  at = 0;
  sooner: LeaseAlarm | undefined = undefined;
  later: LeaseAlarm | undefined = undefined;
  linked = false;
  /** Taken off the list by the firing in progress, to be woken by it unless cancelled or set anew first. */
  due = false;
  /** Under fake timers: this lease's own timer, and the `clearTimeout` of its clock. */
  timer: Timer | undefined = undefined;
  clear: typeof clearTimeout | undefined = undefined;

  constructor(readonly lease: Ticking) {}
}

/**
 * The timers of an engine's leases: a list of their next events, soonest first, and one timer, armed for
 * the soonest. A lease sets its alarm for `now + heartbeatMs` at its start and at each heartbeat, later than
 * any set before, so an alarm almost always joins at the end; a deadline may place one earlier, found by
 * walking back from the end. An alarm set again for the time it has (a renewal confirmed before the next
 * heartbeat) stays where it is.
 *
 * Why not a `setTimeout` per lease: making, unref'ing and clearing one costs Node 150–320 ns, and the
 * `Timeout` objects are garbage; with this list the engine did 4–8% more new keys a second on a store that
 * answers at once (bench/HISTORY.md, twenty-sixth round). Here a lease costs a few links.
 *
 * An alarm keeps its lease's exact time, not one rounded to Node's whole milliseconds: Node's timers fire
 * up to a millisecond early by `performance.now()`, and then a lease whose time has just come is woken in
 * the same firing, as its own timer would have woken it.
 *
 * The timer never holds the process open, as a lease's own timer did not: it is unref'd, left armed when
 * the list empties and stopped when it fires with no alarm left; where timers cannot be unref'd
 * (browsers, Workers), it is cleared as the list empties. While a test fakes the timers or the clock (after
 * core loaded: real-clock.ts), each lease gets a timer of its own on the fake clock, as before. A lease
 * that spans a switch between fake and real timers is not kept: one set on the fake clock dies with it, and
 * one set on the real clock is judged by the fake one until it next sets its alarm. An instrumentation
 * agent that wraps `setTimeout` or `performance` after core loaded reads as fake timers too: correct, only
 * a timer per lease again.
 */
export class LeaseTimers {
  #soonest: LeaseAlarm | undefined;
  #latest: LeaseAlarm | undefined;
  #timer: Timer | undefined;
  /** When the timer is armed for (`Infinity` when it is not). */
  #timerAt = Number.POSITIVE_INFINITY;

  /**
   * Wakes the alarm's lease at `at`, instead of any earlier setting. `at` and `now` are `performance.now()`
   * readings: the real clock's unless a test fakes it, and then only `at - now` counts.
   */
  set(alarm: LeaseAlarm, at: number, now: number): void {
    if (alarm.linked && alarm.at === at) return;
    this.cancel(alarm);
    // Whole milliseconds, rounded up, as Node's timers count them.
    const delay = Math.max(0, Math.ceil(at - now));
    if (faked()) {
      alarm.clear = clearTimeout;
      alarm.timer = setTimeout(tickAlone, delay, alarm) as Timer;
      alarm.timer.unref?.();
      return;
    }
    alarm.at = at;
    alarm.linked = true;
    let sooner = this.#latest;
    while (sooner !== undefined && sooner.at > at) sooner = sooner.sooner;
    const later = sooner === undefined ? this.#soonest : sooner.later;
    alarm.sooner = sooner;
    alarm.later = later;
    if (sooner === undefined) this.#soonest = alarm;
    else sooner.later = alarm;
    if (later === undefined) this.#latest = alarm;
    else later.sooner = alarm;
    if (at < this.#timerAt) this.#arm(at, delay);
  }

  /** The alarm's lease is not woken (the lease ended), not even by a firing in progress. Harmless if it was not set. */
  cancel(alarm: LeaseAlarm): void {
    alarm.due = false;
    if (alarm.timer !== undefined) {
      alarm.clear?.(alarm.timer);
      alarm.timer = alarm.clear = undefined;
    }
    if (!alarm.linked) return;
    this.#unlink(alarm);
    // Where a timer cannot be unref'd (browsers, Workers), none is left pending once no lease waits.
    const timer = this.#timer;
    if (this.#soonest === undefined && timer !== undefined && typeof timer.unref !== "function") {
      realClearTimeout(timer);
      this.#timer = undefined;
      this.#timerAt = Number.POSITIVE_INFINITY;
    }
  }

  #unlink(alarm: LeaseAlarm): void {
    alarm.linked = false;
    const { sooner, later } = alarm;
    if (sooner === undefined) this.#soonest = later;
    else sooner.later = later;
    if (later === undefined) this.#latest = sooner;
    else later.sooner = sooner;
    alarm.sooner = alarm.later = undefined;
  }

  /** Arms the timer for `at`, `delay` whole milliseconds from now. */
  #arm(at: number, delay: number): void {
    if (this.#timer !== undefined) realClearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = realSetTimeout(fire, delay, this) as Timer;
    if (typeof this.#timer.unref === "function") this.#timer.unref();
  }

  /**
   * The timer fired: the due alarms leave the list, the timer is armed for the soonest left, then each due
   * lease ticks, soonest first, unless a tick before it cancelled or set its alarm anew (each one, even if
   * one of them throws; the first throw is rethrown). A lease that is to wake again sets its alarm as it
   * ticks.
   */
  tick(): void {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const now = clock();
    const due: LeaseAlarm[] = [];
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

function wakeIfDue(alarm: LeaseAlarm): void {
  if (!alarm.due) return;
  alarm.due = false;
  alarm.lease.tick();
}

function fire(timers: LeaseTimers): void {
  timers.tick();
}

function tickAlone(alarm: LeaseAlarm): void {
  alarm.timer = alarm.clear = undefined;
  alarm.lease.tick();
}
