import { storeOptionChecks } from "@idemkit/core";

/**
 * Checks of what the store is given (the options of `createRedisStore`, when it is called, and the
 * durations each call receives): core's shared checks for stores. Durations are bounded by core's
 * `MAX_STORE_DURATION_MS` (4 × 10^15 ms), which this store represents exactly: here, a number computed in Lua (a double, exact up to 2^53 ms, the year ~287,000), written as digits and read back as a JavaScript number, and a `PX` TTL far below Redis's 64-bit limit.
 */
export const { describe, rejectUnknownOptions, integerOption, stringOption, checkDuration } =
  storeOptionChecks("@idemkit/redis");
