import { storeOptionChecks } from "@idemkit/core";

/**
 * Checks of what the store is given (the options of `createPostgresStore` and `transaction()`, when it is called, and the
 * durations each call receives): core's shared checks for stores. Durations are bounded by core's
 * `MAX_STORE_DURATION_MS` (4 × 10^15 ms), which this store represents exactly: here, `ms * interval '1 millisecond'` must fit an interval (64-bit microseconds: 9.2 × 10^15 ms) and `statement_timestamp()` plus it a `timestamptz` (up to the year 294,276); past either, PostgreSQL fails the statement with "interval out of range".
 */
export const { describe, rejectUnknownOptions, integerOption, stringOption, checkDuration } =
  storeOptionChecks("@idemkit/postgres");
