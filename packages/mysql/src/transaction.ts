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

/**
 * The connection of a transaction was lost before COMMIT was sent (its thread was killed, the server
 * restarted or failed over, `wait_timeout` ended an idle session, the network reset): the server rolled
 * the transaction back, so nothing was committed, neither the key nor your writes. `cause` is mysql2's
 * fatal error. Not retried by `transaction()`: a retry of the request runs again on a fresh connection.
 */
export class ConnectionLostError extends Error {
  override readonly name = "ConnectionLostError";

  constructor(cause: Error) {
    super(
      `@idemkit/mysql: the connection was lost during the transaction (${cause.message}); nothing was committed`,
      {
        cause,
      },
    );
  }
}

/** mysql2 marks the errors after which its connection is unusable (closed, reset, killed) as fatal. */
const isFatal = (error: unknown) => (error as { fatal?: unknown } | null)?.fatal === true;

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
  let committing = false;
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
      // Lost before COMMIT: nothing was committed; say so, also when the work's own query failed with it.
      if (isFatal(error)) throw new ConnectionLostError(error as Error);
      throw error;
    }
    committing = true;
    try {
      await connection.query(outcome.commit ? "COMMIT" : "ROLLBACK");
    } catch (error) {
      // A ROLLBACK that could not be sent: the server rolls back when the session ends, as asked.
      if (!outcome.commit && isFatal(error)) {
        broken = true;
        return outcome.result;
      }
      throw error;
    }
    return outcome.result;
  } catch (error) {
    if (isFatal(error)) broken = true;
    // Lost before COMMIT was sent (in the claim or the completion): nothing was committed. Lost while
    // COMMIT was in flight, the outcome is unknown: its error goes through unchanged.
    if (isFatal(error) && !committing) throw new ConnectionLostError(error as Error);
    throw error;
  } finally {
    if (broken) connection.destroy();
    else connection.release();
  }
}
