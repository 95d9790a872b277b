import type { Pool, PoolConnection } from "mysql2/promise";
import { isLostRace } from "./retry.js";

export type IsolationLevel = "read committed" | "repeatable read" | "serializable";

export interface TransactionOptions {
  /**
   * Isolation level of `transaction()`. Default: the session's own (REPEATABLE READ unless the server
   * or the pool says otherwise).
   */
  isolationLevel?: IsolationLevel;
  /**
   * How many times `transaction()` runs again after a deadlock (ER_LOCK_DEADLOCK, 1213, or MariaDB's
   * ER_CHECKREAD, 1020), each time in a new transaction that runs `work` again: the server rolled the
   * whole transaction back. Default 3; 0 surfaces the first one. When they run out it rejects with
   * `DeadlockError`.
   */
  maxRetries?: number;
}

/** A transaction kept ending in a deadlock; nothing was committed. */
export class DeadlockError extends Error {
  override readonly name = "DeadlockError";
  /** How many times the transaction ran. */
  readonly attempts: number;

  constructor(attempts: number, cause: unknown) {
    super(
      `@idemkit/mysql: transaction ended in a deadlock (${(cause as Error).message}) after ${attempts} attempt(s)`,
      { cause },
    );
    this.attempts = attempts;
  }
}

export const ISOLATION_LEVELS: Record<IsolationLevel, string> = {
  "read committed": "READ COMMITTED",
  "repeatable read": "REPEATABLE READ",
  serializable: "SERIALIZABLE",
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One attempt's body: runs on `connection` inside START TRANSACTION … COMMIT. */
export type Attempt<R> = (connection: PoolConnection) => Promise<{ commit: boolean; result: R }>;

/**
 * Runs `attempt` in a transaction on one pooled connection: COMMIT when it returns `commit: true`,
 * ROLLBACK otherwise or when it throws. Runs it again after a deadlock.
 */
export async function runTransaction<R>(
  pool: Pool,
  settings: { isolationLevel: IsolationLevel | undefined; maxRetries: number },
  attempt: Attempt<R>,
): Promise<R> {
  for (let attempts = 1; ; attempts++) {
    try {
      return await once(pool, settings.isolationLevel, attempt);
    } catch (error) {
      if (!isLostRace(error)) throw error;
      if (attempts > settings.maxRetries) throw new DeadlockError(attempts, error);
      // Jittered backoff, so that the transactions that collided do not collide again.
      await sleep(Math.random() * 20 * attempts);
    }
  }
}

async function once<R>(pool: Pool, level: IsolationLevel | undefined, attempt: Attempt<R>): Promise<R> {
  const connection = await pool.getConnection();
  // A connection that failed (lost, or unable to roll back) is destroyed, never lent again.
  let broken = false;
  try {
    // SET TRANSACTION applies to the next transaction only: the pooled session keeps its own level.
    if (level !== undefined)
      await connection.query(`SET TRANSACTION ISOLATION LEVEL ${ISOLATION_LEVELS[level]}`);
    await connection.query("START TRANSACTION");
    let outcome: { commit: boolean; result: R };
    try {
      outcome = await attempt(connection);
    } catch (error) {
      await connection.query("ROLLBACK").catch(() => {
        broken = true;
      });
      throw error;
    }
    // A COMMIT whose reply is lost leaves the outcome unknown: its error goes through as it is.
    await connection.query(outcome.commit ? "COMMIT" : "ROLLBACK");
    return outcome.result;
  } catch (error) {
    if ((error as { fatal?: unknown }).fatal === true) broken = true;
    throw error;
  } finally {
    if (broken) connection.destroy();
    else connection.release();
  }
}
