import { describe, MAX_TIMER_MS } from "./options-check.js";
import { now } from "./real-clock.js";
import { TimerEntry, TimerList } from "./timer-list.js";

/** One pending call's deadline in its `CallDeadlines`. */
export class CallDeadline extends TimerEntry {
  constructor(readonly expire: () => void) {
    super();
  }

  wake(): void {
    this.expire();
  }
}

/**
 * Deadlines of calls that all get the same time, `ms` (a store's calls under one timeout), one list under
 * one timer (`TimerList`): they run out in the order they began, so each joins the list at its end. A
 * call that settles leaves the list at once, so nothing outlives its call. A pending call holds the
 * process open, as a timer of its own would, and nothing does once none is pending.
 */
export class CallDeadlines {
  readonly ms: number;
  readonly #list = new TimerList(true);

  /** `ms`: a whole number of milliseconds a Node timer can hold (1 to 2^31 - 1), or a `RangeError`. */
  constructor(ms: number) {
    if (typeof ms !== "number" || !Number.isInteger(ms) || ms < 1 || ms > MAX_TIMER_MS)
      throw new RangeError(
        `CallDeadlines: ms must be an integer from 1 to ${MAX_TIMER_MS}; got ${describe(ms)}`,
      );
    this.ms = ms;
  }

  /** A deadline `ms` from now: `expire` runs then (once), unless `end` came first. It must not throw. */
  start(expire: () => void): CallDeadline {
    const deadline = new CallDeadline(expire);
    const started = now();
    this.#list.set(deadline, started + this.ms, started, this.ms);
    return deadline;
  }

  /** The call settled: its deadline ends. Harmless if it already ended or expired, or is none. */
  end(deadline: CallDeadline | undefined): void {
    if (deadline !== undefined) this.#list.cancel(deadline);
  }

  /** The timer fired: the due calls expire, oldest first (`TimerList.tick`). */
  tick(): void {
    this.#list.tick();
  }
}
