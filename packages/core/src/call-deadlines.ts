import { callEach } from "./call-each.js";
import { faked, now, realClearTimeout, realSetTimeout, type Timer } from "./real-clock.js";

/** One pending call's deadline: a link in its `CallDeadlines` list (oldest first), or a timer of its own. */
export class CallDeadline {
  older: CallDeadline | undefined = undefined;
  newer: CallDeadline | undefined = undefined;
  /** Ended by `end`, or expired: `expire` will not run (again). */
  ended = false;
  /** Under fake timers: this deadline's own timer, and the `clearTimeout` of its clock. */
  timer: Timer | undefined = undefined;
  clear: typeof clearTimeout | undefined = undefined;

  constructor(
    readonly at: number,
    readonly expire: () => void,
  ) {}
}

/**
 * Deadlines of calls that all get the same time, `ms` (a store's calls under one timeout): they run
 * out in the order they began, so a list in that order and one timer, armed for the oldest, serve
 * them all. A call that settles leaves the list at once, so nothing outlives its call.
 *
 * Why not a `setTimeout` per call: in Node that costs about a microsecond each, most of it in making
 * and dropping a timer list whenever no other call is pending. Here a call costs a clock read and two
 * links; the timer is left armed when the list empties (the next call would arm it again a moment
 * later), and when it fires with nothing due it re-arms for the oldest pending call, or stops.
 *
 * The timer holds the process open while a call is pending, as a timer per call would, and not
 * after: it is unref'd when the list empties (cleared where timers cannot be unref'd: browsers,
 * Workers). While a test fakes the timers or the clock, each call gets a timer of its own on the fake
 * clock instead, so advancing that clock times calls out exactly as a `setTimeout` per call did, and
 * no fake timer is left behind when the calls end.
 */
export class CallDeadlines {
  readonly ms: number;
  #oldest: CallDeadline | undefined;
  #newest: CallDeadline | undefined;
  #timer: Timer | undefined;

  constructor(ms: number) {
    this.ms = ms;
  }

  /** A deadline `ms` from now: `expire` runs then (once), unless `end` came first. It must not throw. */
  start(expire: () => void): CallDeadline {
    if (faked()) return this.#startAlone(expire);
    const deadline = new CallDeadline(now() + this.ms, expire);
    const newest = this.#newest;
    if (newest === undefined) this.#oldest = deadline;
    else {
      newest.newer = deadline;
      deadline.older = newest;
    }
    this.#newest = deadline;
    if (this.#timer === undefined) this.#arm();
    else if (newest === undefined) this.#timer.ref?.();
    return deadline;
  }

  /** The call settled: its deadline ends. Harmless if it already ended or expired, or is none. */
  end(deadline: CallDeadline | undefined): void {
    if (deadline === undefined || deadline.ended) return;
    if (deadline.timer !== undefined) {
      deadline.ended = true;
      deadline.clear?.(deadline.timer);
      return;
    }
    this.#unlink(deadline);
    if (this.#oldest !== undefined || this.#timer === undefined) return;
    if (typeof this.#timer.unref === "function") this.#timer.unref();
    else {
      realClearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  /** A deadline with a timer of its own, on the clock in place now (a test's fake one). */
  #startAlone(expire: () => void): CallDeadline {
    const deadline = new CallDeadline(Number.NaN, expire);
    deadline.clear = clearTimeout;
    deadline.timer = setTimeout(expireAlone, this.ms, deadline) as Timer;
    return deadline;
  }

  #unlink(deadline: CallDeadline): void {
    deadline.ended = true;
    const { older, newer } = deadline;
    if (older === undefined) this.#oldest = newer;
    else older.newer = newer;
    if (newer === undefined) this.#newest = older;
    else newer.older = older;
    deadline.older = deadline.newer = undefined;
  }

  /** Arms the timer for the oldest pending deadline (whole milliseconds, as Node counts them). */
  #arm(): void {
    const oldest = this.#oldest;
    if (oldest === undefined) return;
    const delay = Math.max(1, Math.ceil(oldest.at - now()));
    this.#timer = realSetTimeout(fire, delay, this) as Timer;
  }

  /**
   * The timer fired: what is due leaves the list, the timer is re-armed for the oldest left, then the
   * due calls expire, oldest first (each one, even if one of them throws; the first throw is rethrown).
   */
  tick(): void {
    this.#timer = undefined;
    const at = now();
    const due: CallDeadline[] = [];
    for (let oldest = this.#oldest; oldest !== undefined && oldest.at <= at; oldest = this.#oldest) {
      this.#unlink(oldest);
      due.push(oldest);
    }
    this.#arm();
    callEach(due, expire);
  }
}

function expire(deadline: CallDeadline): void {
  deadline.expire();
}

function fire(deadlines: CallDeadlines): void {
  deadlines.tick();
}

function expireAlone(deadline: CallDeadline): void {
  if (deadline.ended) return;
  deadline.ended = true;
  deadline.expire();
}
