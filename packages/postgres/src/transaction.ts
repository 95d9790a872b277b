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

/**
 * The connection of a transaction was lost before COMMIT was sent (the backend was terminated, an
 * `idle_in_transaction_session_timeout` fired, the server restarted or failed over, the network reset):
 * the server rolled the transaction back, so nothing was committed, neither the key nor your writes.
 * `cause` is the connection's error (a pg `DatabaseError` with `code` `57P01`, `25P03`, … or a socket
 * error). Not retried by `transaction()`: a retry of the request runs again on a fresh connection.
 */
export class ConnectionLostError extends Error {
  override readonly name = "ConnectionLostError";

  constructor(cause: Error) {
    super(
      `@idemkit/postgres: the connection was lost during the transaction (${cause.message}); nothing was committed`,
      { cause },
    );
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

/** One attempt's body: runs on `client` inside BEGIN … COMMIT. */
export type Attempt<R> = (client: PoolClient) => Promise<{ commit: boolean; result: R }>;

/**
 * Runs `attempt` in a transaction on one pooled client: COMMIT when it returns `commit: true`,
 * ROLLBACK otherwise or when it throws. Retries serialization failures and deadlocks.
 */
export async function runTransaction<R>(
  pool: Pool,
  settings: { isolationLevel: IsolationLevel; maxRetries: number },
  attempt: Attempt<R>,
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

async function once<R>(pool: Pool, level: string, attempt: Attempt<R>): Promise<R> {
  const client = await pool.connect();
  // pg-pool listens for a client's 'error' only while the client is idle in the pool. A checked-out
  // client whose connection dies (pg_terminate_backend, idle_in_transaction_session_timeout, a failover,
  // a restart, a reset) emits 'error' with no listener, and Node exits. Listen while we hold it, and
  // hand it back as broken, so that the pool destroys it instead of lending it again.
  let lost: Error | undefined;
  const onError = (error: Error) => {
    lost ??= error;
  };
  client.on("error", onError);
  let broken: Error | undefined;
  let committing = false;
  try {
    try {
      await client.query(`BEGIN ISOLATION LEVEL ${level}`);
    } catch (error) {
      broken = error as Error;
      throw error;
    }
    let outcome: { commit: boolean; result: R };
    try {
      outcome = await attempt(client);
      if (lost) {
        // The server rolled the transaction back when the session ended: nothing was kept.
        if (!outcome.commit) return outcome.result;
        throw new ConnectionLostError(lost);
      }
      committing = true;
      await client.query(outcome.commit ? "COMMIT" : "ROLLBACK");
    } catch (error) {
      // A connection that cannot even roll back is destroyed rather than returned to the pool.
      if (!lost) {
        await client.query("ROLLBACK").catch((rollbackError: Error) => {
          broken = rollbackError;
        });
      }
      // Lost before COMMIT was sent: nothing was committed, say so, also when the work threw (its
      // query failed with the connection, most likely). Lost during COMMIT, the outcome is unknown:
      // its error goes through unchanged.
      if (lost && !committing && !(error instanceof ConnectionLostError)) {
        // The failed query's error says why (its SQLSTATE); the connection's own may not.
        throw new ConnectionLostError(
          typeof (error as { code?: unknown }).code === "string" ? (error as Error) : lost,
        );
      }
      throw error;
    }
    return outcome.result;
  } finally {
    client.release(broken ?? lost);
    client.removeListener("error", onError);
  }
}
