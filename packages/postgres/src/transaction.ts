import type { Pool, PoolClient } from "pg";

export type IsolationLevel = "read committed" | "repeatable read" | "serializable";

export interface TransactionOptions {
  /** Isolation level of `transaction()`. Default `read committed`. */
  isolationLevel?: IsolationLevel;
  /**
   * How many times `transaction()` retries after a serialization failure (SQLSTATE 40001) or a
   * deadlock (40P01), each time in a new transaction that runs `work` again. Default 3; 0 surfaces
   * the first failure. When retries run out it rejects with `SerializationError`.
   */
  maxRetries?: number;
}

/** A transaction kept failing with a serialization failure or a deadlock; nothing was committed. */
export class SerializationError extends Error {
  override readonly name = "SerializationError";
  /** `40001` (serialization failure) or `40P01` (deadlock detected). */
  readonly code: "40001" | "40P01";
  /** How many times the transaction ran. */
  readonly attempts: number;

  constructor(code: "40001" | "40P01", attempts: number, cause: unknown) {
    const what = code === "40001" ? "a serialization failure" : "a deadlock";
    super(`@idemkit/postgres: transaction ended in ${what} (SQLSTATE ${code}) after ${attempts} attempt(s)`, {
      cause,
    });
    this.code = code;
    this.attempts = attempts;
  }
}

const LEVELS: Record<IsolationLevel, string> = {
  "read committed": "READ COMMITTED",
  "repeatable read": "REPEATABLE READ",
  serializable: "SERIALIZABLE",
};

function retryableCode(error: unknown): "40001" | "40P01" | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "40001" || code === "40P01" ? code : undefined;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `attempt` in a transaction on one pooled client: COMMIT when it returns `commit: true`,
 * ROLLBACK otherwise or when it throws. Retries serialization failures and deadlocks.
 */
export async function runTransaction<R>(
  pool: Pool,
  settings: { isolationLevel: IsolationLevel; maxRetries: number },
  attempt: (client: PoolClient) => Promise<{ commit: boolean; result: R }>,
): Promise<R> {
  for (let attempts = 1; ; attempts++) {
    try {
      return await once(pool, LEVELS[settings.isolationLevel], attempt);
    } catch (error) {
      const code = retryableCode(error);
      if (code === undefined) throw error;
      if (attempts > settings.maxRetries) throw new SerializationError(code, attempts, error);
      // Jittered backoff so that the transactions that collided do not collide again.
      await sleep(Math.random() * 20 * attempts);
    }
  }
}

async function once<R>(
  pool: Pool,
  level: string,
  attempt: (client: PoolClient) => Promise<{ commit: boolean; result: R }>,
): Promise<R> {
  const client = await pool.connect();
  try {
    await client.query(`BEGIN ISOLATION LEVEL ${level}`);
  } catch (error) {
    client.release(error as Error);
    throw error;
  }
  let broken: Error | undefined;
  try {
    const { commit, result } = await attempt(client);
    await client.query(commit ? "COMMIT" : "ROLLBACK");
    return result;
  } catch (error) {
    // A connection that cannot even roll back is destroyed rather than returned to the pool.
    await client.query("ROLLBACK").catch((rollbackError: Error) => {
      broken = rollbackError;
    });
    throw error;
  } finally {
    client.release(broken);
  }
}
