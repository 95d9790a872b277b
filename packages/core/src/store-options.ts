import { describe } from "./options-check.js";

/**
 * The longest `leaseMs` or `retentionMs` a store accepts: 4 × 10^15 ms, about 126,000 years. A
 * deadline is now + a lease + a retention, so it stays below 8 × 10^15 ms after the epoch (year
 * ~255,000), which every store represents exactly (each store says how, where it checks). Core's
 * own maximum retention (10 years) is far below it.
 */
export const MAX_STORE_DURATION_MS = 4e15;

/** What `storeOptionChecks` gives a store. */
export interface StoreOptionChecks {
  /** A value as an error message shows it. */
  describe(value: unknown): string;
  rejectUnknownOptions(where: string, options: object, known: readonly string[]): void;
  integerOption(name: string, value: unknown, min: number, max: number): number | undefined;
  booleanOption(name: string, value: unknown): boolean | undefined;
  functionOption<F>(name: string, value: unknown): F | undefined;
  stringOption(name: string, value: unknown): string | undefined;
  checkDuration(operation: string, name: string, value: unknown, positive: boolean): void;
}

/**
 * Checks for a store factory's options and a store call's arguments, for store implementers: each
 * failure names the package, the option and what it accepts, as core's own checks do.
 */
export function storeOptionChecks(packageName: string): StoreOptionChecks {
  const fail = (Kind: typeof TypeError, message: string): never => {
    throw new Kind(`${packageName}: ${message}`);
  };
  return {
    describe,
    /** Throws a `TypeError` naming any option `where` does not know (a misspelt one, say). */
    rejectUnknownOptions(where: string, options: object, known: readonly string[]): void {
      for (const name of Object.keys(options)) {
        if (!known.includes(name) && (options as Record<string, unknown>)[name] !== undefined) {
          fail(TypeError, `${where}: unknown option "${name}" (known: ${[...known].sort().join(", ")})`);
        }
      }
    },
    /** An integer in `[min, max]`, or `undefined` when not given. */
    integerOption(name: string, value: unknown, min: number, max: number): number | undefined {
      if (value === undefined) return undefined;
      if (typeof value === "number" && Number.isInteger(value) && value >= min && value <= max) return value;
      return fail(RangeError, `${name} must be an integer from ${min} to ${max}; got ${describe(value)}`);
    },
    booleanOption(name: string, value: unknown): boolean | undefined {
      if (value === undefined || typeof value === "boolean") return value;
      return fail(TypeError, `${name} must be true or false; got ${describe(value)}`);
    },
    functionOption<F>(name: string, value: unknown): F | undefined {
      if (value === undefined || typeof value === "function") return value as F | undefined;
      return fail(TypeError, `${name} must be a function; got ${describe(value)}`);
    },
    stringOption(name: string, value: unknown): string | undefined {
      if (value === undefined || typeof value === "string") return value;
      return fail(TypeError, `${name} must be a string; got ${describe(value)}`);
    },
    /**
     * A lease (`positive`: more than 0) or a retention (0 or more) a call received: a number of
     * milliseconds up to `MAX_STORE_DURATION_MS`. Throws a `RangeError` naming the call and the
     * argument, so the call fails with it (core answers 503 and reports a store error) instead of
     * writing a deadline the store cannot represent.
     */
    checkDuration(operation: string, name: string, value: unknown, positive: boolean): void {
      // `<=` is false for NaN.
      if (typeof value === "number" && (positive ? value > 0 : value >= 0) && value <= MAX_STORE_DURATION_MS)
        return;
      fail(
        RangeError,
        `${operation}: ${name} must be a number of milliseconds ${positive ? "above 0" : "from 0"} up to ` +
          `${MAX_STORE_DURATION_MS} (about 126,000 years); got ${describe(value)}`,
      );
    },
  };
}
