/** One pending call's deadline, a link in its `CallDeadlines` list (oldest first). */
export class CallDeadline {
  older: CallDeadline | undefined = undefined;
  newer: CallDeadline | undefined = undefined;
  /** Ended by `end`, or expired: it is out of the list and `expire` will not run (again). */
  ended = false;

  constructor(
    readonly at: number,
    readonly expire: () => void,
  ) {}
}

type Timer = ReturnType<typeof setTimeout> & { ref?: () => unknown; unref?: () => unknown };

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
 * after: it is unref'd when the list empties. Where timers cannot be unref'd (browsers, Workers), it
 * is cleared then instead.
 */
export class CallDeadlines {
  readonly ms: number;
  #oldest: CallDeadline | undefined;
  #newest: CallDeadline | undefined;
  #timer: Timer | undefined;

  constructor(ms: number) {
    this.ms = ms;
  }

  /** A deadline `ms` from now: `expire` runs then (once), unless `end` came first. */
  start(expire: () => void): CallDeadline {
    const deadline = new CallDeadline(performance.now() + this.ms, expire);
    const newest = this.#newest;
    if (newest === undefined) this.#oldest = deadline;
    else {
      newest.newer = deadline;
      deadline.older = newest;
    }
    this.#newest = deadline;
    if (this.#timer === undefined) this.#arm(this.ms);
    else if (newest === undefined) this.#timer.ref?.();
    return deadline;
  }

  /** The call settled: its deadline leaves the list. Harmless if it already ended or expired. */
  end(deadline: CallDeadline): void {
    if (deadline.ended) return;
    this.#unlink(deadline);
    if (this.#oldest !== undefined || this.#timer === undefined) return;
    if (typeof this.#timer.unref === "function") this.#timer.unref();
    else {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
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

  #arm(delay: number): void {
    this.#timer = setTimeout(fire, delay, this) as Timer;
  }

  /** The timer fired: expire what is due, oldest first, then re-arm for the oldest left. */
  tick(): void {
    this.#timer = undefined;
    const now = performance.now();
    for (let oldest = this.#oldest; oldest !== undefined && oldest.at <= now; oldest = this.#oldest) {
      this.#unlink(oldest);
      oldest.expire();
    }
    // Whole milliseconds, as Node's timers count them (a timer never fires before its delay).
    if (this.#oldest !== undefined) this.#arm(Math.max(1, Math.ceil(this.#oldest.at - now)));
  }
}

function fire(deadlines: CallDeadlines): void {
  deadlines.tick();
}
