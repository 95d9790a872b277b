import { fail } from "./assertions.js";
import { clock } from "./context.js";

/**
 * A timed check's own process ran late: it was about to send a call after a lease or a keep-until it
 * counts on may have ended by its own clock (a loaded machine stalled it). That judges nothing about
 * the store.
 */
class Stalled extends Error {}

/** How many times a timed check starts over after its process stalled, before it fails saying so. */
const ATTEMPTS = 3;

/**
 * Runs `attempt` (which takes fresh keys each time) until it ends without stalling, at most ATTEMPTS
 * times: a check the machine stalled past its deadline starts over rather than failing a correct store.
 */
export async function onTime(attempt: () => Promise<void>): Promise<void> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof Stalled)) throw error;
      if (n === ATTEMPTS) {
        fail(
          `this check's own process stalled each of the ${ATTEMPTS} times it ran, so it could not judge the ` +
            `store: ${error.message} (the machine was too loaded; not a fault of the store)`,
        );
      }
    }
  }
}

/**
 * Throws `Stalled` (for `onTime`) unless a call sent now is still `toleranceMs` inside the window of
 * `windowMs` (a lease, a lease and its retention) that a call sent at `setAt` opened: sent later, it
 * could find the window ended through no fault of the store.
 */
export function expectInTime(setAt: number, windowMs: number, toleranceMs: number, call: string): void {
  const late = clock() - setAt;
  if (late > windowMs - toleranceMs) {
    throw new Stalled(
      `${call} was due well inside ${windowMs} ms of the call it depends on, and would have been sent ${Math.round(late)} ms after it`,
    );
  }
}
