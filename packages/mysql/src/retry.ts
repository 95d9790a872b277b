/**
 * Errors that mean "another caller won a race" when the failed statement ran on its own (autocommit):
 * the server rolled it back whole, so running it again is safe. ER_LOCK_DEADLOCK (1213) happens when
 * concurrent claims of one key meet InnoDB's next-key locks; ER_CHECKREAD (1020) is MariaDB's
 * "record has changed since last read" under `innodb_snapshot_isolation`.
 */
const LOST_RACE_ERRNOS = new Set([1213, 1020]);

/** Attempts of one statement before a lost race is given back to the caller (see `retryLostRaces`). */
export const MAX_ATTEMPTS = 20;

export const isLostRace = (error: unknown): boolean =>
  LOST_RACE_ERRNOS.has((error as { errno?: unknown } | null)?.errno as number);

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `statement`, again after a lost race (`isLostRace`), up to `MAX_ATTEMPTS` times, with a short
 * random pause that grows (so the racers spread out instead of meeting again); then rethrows the last
 * error. With `retry: false` (the statement may be part of the caller's transaction, which a deadlock
 * rolled back whole) it runs once.
 */
export async function retryLostRaces<T>(retry: boolean, statement: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await statement();
    } catch (error) {
      if (!retry || attempt >= MAX_ATTEMPTS || !isLostRace(error)) throw error;
      await sleep(Math.random() * 2 ** Math.min(attempt, 5));
    }
  }
}
