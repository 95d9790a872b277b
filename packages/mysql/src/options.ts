import { storeOptionChecks } from "@idemkit/core";
import { quoteIdentifier } from "./schema.js";
import { ISOLATION_LEVELS, type IsolationLevel, type TransactionOptions } from "./transaction.js";

/**
 * Checks of what the store is given (the options of `createMySqlStore` and `transaction()`, and the
 * durations each call receives): core's shared checks for stores. Durations are bounded by core's
 * `MAX_STORE_DURATION_MS` (4 × 10^15 ms), which this store represents exactly: deadlines are BIGINT
 * milliseconds since the epoch (the server's clock, about 1.8 × 10^12, plus a lease and a retention
 * stays far below 2^53), not `DATETIME`, which ends in the year 9999, nor `TIMESTAMP`, which ends in 2038.
 */
export const { describe, rejectUnknownOptions, integerOption, stringOption, checkDuration } =
  storeOptionChecks("@idemkit/mysql");

const TRANSACTION_OPTION_NAMES = ["isolationLevel", "maxRetries"];
const OPTION_NAMES = ["pool", "table", ...TRANSACTION_OPTION_NAMES];
const LEVELS = Object.keys(ISOLATION_LEVELS) as IsolationLevel[];

/** `isolationLevel` and `maxRetries`, checked (of the store, or of one `transaction()` call). */
export function checkTransactionOptions(where: string, options: TransactionOptions): TransactionOptions {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`@idemkit/mysql: ${where} options must be an object; got ${describe(options)}`);
  }
  const { isolationLevel } = options;
  if (isolationLevel !== undefined && !LEVELS.includes(isolationLevel)) {
    throw new TypeError(
      `@idemkit/mysql: isolationLevel must be one of ${LEVELS.map((l) => `"${l}"`).join(", ")}; ` +
        `got ${describe(isolationLevel)}`,
    );
  }
  return { isolationLevel, maxRetries: integerOption("maxRetries", options.maxRetries, 0, 100) };
}

/** The options of `createMySqlStore`, checked: each failure names the option and what it accepts. */
export function checkStoreOptions(options: unknown): TransactionOptions {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `@idemkit/mysql: createMySqlStore needs an options object with \`pool\`; got ${describe(options)}`,
    );
  }
  rejectUnknownOptions("createMySqlStore", options, OPTION_NAMES);
  const { pool, table } = options as { pool?: unknown; table?: unknown };
  if (
    typeof pool !== "object" ||
    pool === null ||
    typeof (pool as { execute?: unknown }).execute !== "function"
  ) {
    throw new TypeError(
      `@idemkit/mysql: pool must be a mysql2/promise Pool or connection; got ${describe(pool)}`,
    );
  }
  // A callback-style mysql2 pool also has execute(), but returns no promise.
  if (typeof (pool as { promise?: unknown }).promise === "function") {
    throw new TypeError(
      "@idemkit/mysql: pool is a callback-style mysql2 pool: pass pool.promise(), or create it with mysql2/promise",
    );
  }
  checkPoolShape(pool);
  const name = stringOption("table", table);
  if (name === "") throw new TypeError("@idemkit/mysql: table must not be empty");
  try {
    if (name !== undefined) quoteIdentifier(name);
  } catch (error) {
    throw new TypeError(
      `@idemkit/mysql: table: ${(error as Error).message.replace(/^@idemkit\/mysql: /, "")}`,
    );
  }
  return checkTransactionOptions("createMySqlStore", options as TransactionOptions);
}

/** mysql2's CLIENT_FOUND_ROWS flag: an UPDATE counts the rows it matched, changed or not. */
const FOUND_ROWS = 2;

/** What the store relies on in the pool's own settings, refused at creation rather than at the first call. */
function checkPoolShape(pool: object): void {
  const p = pool as {
    poolCluster?: unknown;
    poolNamespace?: unknown;
    pool?: { config?: { connectionConfig?: { clientFlags?: unknown } } };
    connection?: { config?: { clientFlags?: unknown } };
  };
  if (p.poolCluster !== undefined || p.poolNamespace !== undefined) {
    throw new TypeError(
      "@idemkit/mysql: pool is a PoolCluster (or one of its namespaces), which spreads statements over its " +
        "pools, possibly on different servers: a claim and its completion must reach the same one. Pass one Pool",
    );
  }
  const flags = p.pool?.config?.connectionConfig?.clientFlags ?? p.connection?.config?.clientFlags;
  if (typeof flags === "number" && (flags & FOUND_ROWS) === 0) {
    throw new TypeError(
      "@idemkit/mysql: pool was created with flags ['-FOUND_ROWS']: the store counts the rows an UPDATE " +
        "matched (an extend within the same millisecond changes nothing, yet its owner is live). Keep mysql2's " +
        "default FOUND_ROWS",
    );
  }
}

/** A call's string argument (key, token, fingerprint), checked: a clear TypeError rather than a raw one. */
export function checkText(operation: string, name: string, value: unknown): void {
  if (typeof value !== "string") {
    throw new TypeError(`@idemkit/mysql: ${operation}: ${name} must be a string; got ${describe(value)}`);
  }
}

/** A completion's outcome, checked: bytes (a Uint8Array, a Buffer included), never a string. */
export function checkBytes(operation: string, value: unknown): void {
  if (!(value instanceof Uint8Array)) {
    throw new TypeError(
      `@idemkit/mysql: ${operation}: result must be a Uint8Array (the outcome's bytes); got ${describe(value)}`,
    );
  }
}
