/**
 * Checks of what the store is given: the options of `createPostgresStore` and `transaction()`, when it is called, and the
 * durations each call receives. Every failure names the option and what it accepts. (The same rules
 * as core's own option checks, which core does not export.)
 */

/**
 * The longest `leaseMs` or `retentionMs` any idemkit store accepts: 4 × 10^15 ms, about 126,000
 * years. A deadline is now + a lease + a retention, so it stays below 8 × 10^15 ms after the epoch
 * (year ~255,000), which every store represents exactly. Here, `ms * interval '1 millisecond'` must
 * fit an interval (64-bit microseconds: 9.2 × 10^15 ms) and `statement_timestamp()` plus it a
 * `timestamptz` (up to the year 294,276); past either, PostgreSQL fails every such statement with
 * "interval out of range" or "timestamp out of range". Core's own maximum retention (10 years) is
 * far below it.
 */
export const MAX_DURATION_MS = 4e15;

const PACKAGE = "@idemkit/postgres";

export function describe(value: unknown): string {
  if (typeof value === "string")
    return JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}…` : value);
  if (typeof value === "number" || typeof value === "boolean" || value == null) return String(value);
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "function") return "a function";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

/** Throws a `TypeError` naming any option the factory does not know (a misspelt `maxRetry`, say). */
export function rejectUnknownOptions(where: string, options: object, known: readonly string[]): void {
  for (const name of Object.keys(options)) {
    if (!known.includes(name) && (options as Record<string, unknown>)[name] !== undefined) {
      throw new TypeError(
        `${PACKAGE}: ${where}: unknown option "${name}" (known: ${[...known].sort().join(", ")})`,
      );
    }
  }
}

/** An integer in `[min, max]`, or `undefined` when not given. */
export function integerOption(name: string, value: unknown, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `${PACKAGE}: ${name} must be an integer from ${min} to ${max}; got ${describe(value)}`,
    );
  }
  return value;
}

export function stringOption(name: string, value: unknown): string | undefined {
  if (value === undefined || typeof value === "string") return value;
  throw new TypeError(`${PACKAGE}: ${name} must be a string; got ${describe(value)}`);
}

/**
 * A lease (`positive`: more than 0) or a retention (0 or more) a call received: a number of
 * milliseconds up to `MAX_DURATION_MS`. Throws a `RangeError` naming the call and the argument, so
 * the call fails with it (core answers 503 and reports a store error) instead of writing a deadline
 * the store cannot represent.
 */
export function checkDuration(operation: string, name: string, value: unknown, positive: boolean): void {
  if (
    typeof value === "number" &&
    (positive ? value > 0 : value >= 0) &&
    value <= MAX_DURATION_MS // false for NaN
  ) {
    return;
  }
  throw new RangeError(
    `${PACKAGE}: ${operation}: ${name} must be a number of milliseconds ${positive ? "above 0" : "from 0"} up to ` +
      `${MAX_DURATION_MS} (about 126,000 years); got ${describe(value)}`,
  );
}
