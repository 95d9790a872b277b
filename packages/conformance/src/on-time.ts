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
/** A tick this much later than due is the process stalling; less is a timer's ordinary jitter. */
const STALL_MS = 20;

/**
 * The time this process lost to stalls while an attempt ran: a timer every TICK_MS, and each tick
 * later than due by STALL_MS or more noted with when it came. A slow store delays no timer, so its
 * latency is never counted as a stall.
 */
class StallWatch {
  readonly #stalls: { endedAt: number; ms: number }[] = [];
  #last = clock();
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor() {
    this.#schedule();
  }

  #schedule(): void {
    this.#timer = setTimeout(() => {
      const now = clock();
      const lost = now - this.#last - TICK_MS;
      if (lost >= STALL_MS) this.#stalls.push({ endedAt: now, ms: lost });
      this.#last = now;
      this.#schedule();
    }, TICK_MS);
    // Never what keeps a test process alive.
    (this.#timer as { unref?: () => void }).unref?.();
  }

  /** The time lost to stalls since `from` (a stall that began before it, only its part after). */
  lostSince(from: number): number {
    let lost = 0;
    for (const { endedAt, ms } of this.#stalls) if (endedAt > from) lost += Math.min(ms, endedAt - from);
    // A stall still going on (the tick is overdue now) counts too.
    return lost + Math.max(0, clock() - Math.max(this.#last, from) - TICK_MS);
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
 * than `marginMs` (`toleranceMs`, at most a quarter of the window) before the window ends *and* the
 * process lost at least that overrun to stalls since the window opened: without the stalls the call
 * was in time. Otherwise the call goes ahead and the store is judged as it always was: a slow store's
 * latency, or a tolerance as wide as the window, never reads as a stall.
 */
export async function onTime(toleranceMs: number, attempt: (inTime: InTime) => Promise<void>): Promise<void> {
  for (let n = 1; ; n++) {
    const watch = new StallWatch();
    const inTime: InTime = (setAt, windowMs, call) => {
      const late = clock() - setAt;
      const overrun = late - (windowMs - Math.min(toleranceMs, windowMs / 4));
      const lost = watch.lostSince(setAt);
      if (overrun > 0 && lost >= overrun) {
        throw new Stalled(
          `${call} was due well inside ${windowMs} ms of the call it depends on, and would have been sent ` +
            `${Math.round(late)} ms after it, the process having stalled for ${Math.round(lost)} ms meanwhile`,
        );
      }
    };
    try {
      return await attempt(inTime);
    } catch (error) {
      if (!(error instanceof Stalled)) throw error;
      if (n === ATTEMPTS) {
        fail(
          `this check's own process stalled each of the ${ATTEMPTS} times it ran, so it could not judge the ` +
            `store: ${error.message} (the machine was too loaded; not a fault of the store)`,
        );
      }
    } finally {
      watch.stop();
    }
  }
}
