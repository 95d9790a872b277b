import { storeOptionChecks } from "@idemkit/core";

/**
 * Checks of what the store is given (the options of `createSqliteStore`, when it is called, and the
 * durations each call receives): core's shared checks for stores. Durations are bounded by core's
 * `MAX_STORE_DURATION_MS` (4 × 10^15 ms), which this store represents exactly: here, an INTEGER of milliseconds read back as a JavaScript number, exact up to 2^53 ms (the year ~287,000).
 */
export const {
  describe,
  rejectUnknownOptions,
  integerOption,
  booleanOption,
  functionOption,
  stringOption,
  checkDuration,
} = storeOptionChecks("@idemkit/sqlite");
