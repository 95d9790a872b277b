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
 * is cleared then instead. A timer armed by another `setTimeout` than the one in place now (a test's
 * fake timers, installed or removed since) is left to itself and a new one armed: a fake timer
 * outlives its fake clock, and would never fire.
 */
export class CallDeadlines {
  readonly ms: number;
  #oldest: CallDeadline | undefined;
  #newest: CallDeadline | undefined;
  #timer: Timer | undefined;
  /** The `setTimeout` that armed `#timer`. */
  #armedWith: typeof setTimeout | undefined;
  /** Counts timers armed: only the newest one's firing counts. */
  #armed = 0;

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
    if (this.#timer === undefined) this.#arm(deadline.at);
    else if (this.#armedWith !== setTimeout) {
      this.#timer.unref?.(); // left to fire, unheeded (`tick`)
      this.#arm((this.#oldest ?? deadline).at);
    } else if (newest === undefined) this.#timer.ref?.();
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

  /** Arms a timer for the oldest pending deadline, `at` (whole milliseconds, as Node counts them). */
  #arm(at: number): void {
    const delay = Math.max(1, Math.ceil(at - performance.now()));
    this.#armedWith = setTimeout;
    this.#timer = setTimeout(fire, delay, this, ++this.#armed) as Timer;
  }

  /**
   * Timer number `armed` fired: if it is the newest, expire what is due, oldest first, then re-arm
   * for the oldest left. `expire` functions must not throw.
   */
  tick(armed: number): void {
    if (armed !== this.#armed) return;
    this.#timer = undefined;
    const now = performance.now();
    for (let oldest = this.#oldest; oldest !== undefined && oldest.at <= now; oldest = this.#oldest) {
      this.#unlink(oldest);
      oldest.expire();
    }
    if (this.#oldest !== undefined) this.#arm(this.#oldest.at);
  }
}

function fire(deadlines: CallDeadlines, armed: number): void {
  deadlines.tick(armed);
}
