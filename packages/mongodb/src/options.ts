import { storeOptionChecks } from "@idemkit/core";

/**
 * Checks of what the store is given (the options of `createMongoStore`, when it is called, and the
 * durations each call receives): core's shared checks for stores. Durations are bounded by core's
 * `MAX_STORE_DURATION_MS` (4 × 10^15 ms), which this store represents exactly: here, a BSON date made by `$add` on the server (64-bit milliseconds) read back as a JavaScript `Date`, which holds 8.64 × 10^15 ms after the epoch at most (the year 275,760).
 */
export const { describe, rejectUnknownOptions, stringOption, checkDuration } =
  storeOptionChecks("@idemkit/mongodb");
