import { fail } from "./assertions.js";
import { clock } from "./context.js";

/**
 * A timed check's own process stalled (a loaded machine, a long collection) so long that a call it
 * times could arrive after the window it counts on. That judges nothing about the store.
 */
class Stalled extends Error {}

/** How many times a timed check starts over after its process stalled, before it fails saying so. */
const ATTEMPTS = 3;
/** How often the watch reads the clock. */
const TICK_MS = 10;
/**
 * The most of a window a call may need to have left before `inTime` may blame a stall: a fifth. The
 * checks plan calls as late as three quarters through a window, and a cap of a quarter would leave such
 * a call no room for a timer that fires a few ms late.
 */
const MAX_MARGIN_SHARE = 1 / 5;
/** How late an idle process's timer may come (granularity, the loop's own turn): never counted. */
const JITTER_MS = 2;

/**
 * How long this thread's event loop has been busy, in ms, where the runtime tells (Node's
 * `performance.eventLoopUtilization`); elsewhere the watch has its ticks alone.
 */
const busyMs: (() => number) | undefined = (() => {
  const utilization = (performance as { eventLoopUtilization?: () => { active: number } })
    .eventLoopUtilization;
  return typeof utilization === "function" ? () => utilization.call(performance).active : undefined;
})();

/** The most late ticks the watch keeps, so a check that hangs does not grow them for ever. */
const MAX_READINGS = 6_000;

/**
 * The time this process lost while an attempt ran, read at every tick (every TICK_MS): nothing when the
 * tick came on time (within JITTER_MS), else the larger of how late it came and how long the event loop
 * was busy since the last tick (where the runtime tells). A machine that stops the process, in one long
 * pause or in many short slices, makes ticks late; other work that holds the loop makes them late too,
 * and then its whole busy slice counts, which lateness alone reads short. Work that never holds a tick
 * back (another check's, while this one waits on a store) is not counted, nor is the latency of a store
 * that keeps the process waiting on a reply. A store that blocks the thread (a synchronous driver
 * waiting on a lock) is, as the process stalling.
 */
class StallWatch {
  readonly #readings: { at: number; lost: number }[] = [];
  #last = clock();
  #lastBusy = busyMs?.() ?? 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor() {
    this.#schedule();
  }

  #schedule(): void {
    this.#timer = setTimeout(() => {
      const now = clock();
      const busy = busyMs?.() ?? 0;
      const late = now - this.#last - TICK_MS - JITTER_MS;
      if (late > 0) {
        this.#readings.push({ at: now, lost: Math.max(late, busy - this.#lastBusy) });
        if (this.#readings.length > MAX_READINGS) this.#readings.shift();
      }
      this.#last = now;
      this.#lastBusy = busy;
      this.#schedule();
    }, TICK_MS);
    // Never what keeps a test process alive.
    (this.#timer as { unref?: () => void }).unref?.();
  }

  /** The time lost since `from` (of a reading whose interval began before it, only its part after). */
  lostSince(from: number): number {
    let lost = 0;
    for (const { at, lost: ms } of this.#readings) if (at > from) lost += Math.min(ms, at - from);
    // A tick overdue now counts too.
    return lost + Math.max(0, clock() - Math.max(this.#last, from) - TICK_MS - JITTER_MS);
  }

  stop(): void {
    clearTimeout(this.#timer);
  }
}

/**
 * Called just before a call the check times: `setAt` is when the call that opened the window was sent,
 * `windowMs` how long the window lasts (a lease, a lease and its retention).
 */
export type InTime = (setAt: number, windowMs: number, call: string) => void;

/**
 * Runs `attempt` (which takes fresh keys each time) until it ends without its process stalling past a
 * window, at most ATTEMPTS times. The `inTime` it is given throws `Stalled` when a call would leave less
 * than `toleranceMs` (at most a fifth of the window) before the window ends *and* the
 * process lost at least that overrun to stalls since the window opened: without the stalls the call
 * was in time. Otherwise the call goes ahead and the store is judged as it always was: the latency of a
 * store that does not block the thread, or a tolerance as wide as the window, never reads as a stall.
 * A check that fails after a timed call is judged the same way at the moment it fails: a stall after
 * `inTime` can still hold the call back (a client that writes its commands a turn later), so when the
 * process lost that call's overrun, the failure may be the stall's and the check starts over.
 */
export async function onTime(toleranceMs: number, attempt: (inTime: InTime) => Promise<void>): Promise<void> {
  for (let n = 1; ; n++) {
    const watch = new StallWatch();
    /** The stall that may have made `call` late, judged now, or `undefined` when none could have. */
    const stalledPast = (setAt: number, windowMs: number, call: string, what: string) => {
      const late = clock() - setAt;
      const margin = Math.min(toleranceMs, windowMs * MAX_MARGIN_SHARE);
      const overrun = late - (windowMs - margin);
      const lost = watch.lostSince(setAt);
      if (overrun <= 0 || lost < overrun) return undefined;
      return new Stalled(
        `${call} was due well inside ${windowMs} ms of the call it depends on, and ${what} ` +
          `${Math.round(late)} ms after it, the process having stalled for ${Math.round(lost)} ms meanwhile`,
      );
    };
    let last: Parameters<InTime> | undefined;
    const inTime: InTime = (setAt, windowMs, call) => {
      last = [setAt, windowMs, call];
      const stalled = stalledPast(setAt, windowMs, call, "would have been sent");
      if (stalled) throw stalled;
    };
    try {
      return await attempt(inTime);
    } catch (thrown) {
      const error =
        thrown instanceof Stalled || last === undefined
          ? thrown
          : (stalledPast(...last, `failed (${(thrown as Error)?.message ?? thrown})`) ?? thrown);
      if (!(error instanceof Stalled)) throw error;
      if (n === ATTEMPTS) {
        fail(
          `this check's own process stalled each of the ${ATTEMPTS} times it ran, so it could not judge the ` +
            `store: ${error.message} (a machine too loaded, or a store that blocks the thread)`,
        );
      }
    } finally {
      watch.stop();
    }
  }
}
