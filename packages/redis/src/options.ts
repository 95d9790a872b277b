import { storeOptionChecks } from "@idemkit/core";
import { connectionOf } from "./clients.js";
import type { RedisStoreOptions } from "./redis-store.js";
import { unsupported } from "./unsupported.js";

/**
 * Checks of what the store is given (the options of `createRedisStore`, when it is called, and the
 * durations each call receives): core's shared checks for stores. Durations are bounded by core's
 * `MAX_STORE_DURATION_MS` (4 × 10^15 ms), which this store represents exactly: here, a number computed in Lua (a double, exact up to 2^53 ms, the year ~287,000), written as digits and read back as a JavaScript number, and a `PX` TTL far below Redis's 64-bit limit.
 */
export const { describe, rejectUnknownOptions, integerOption, stringOption, checkDuration } =
  storeOptionChecks("@idemkit/redis");

const OPTION_NAMES = ["client", "prefix", "commandTimeoutMs"];

/** The options, checked: each failure names the option and what it accepts (TypeError / RangeError). */
export function checkOptions(options: RedisStoreOptions) {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `@idemkit/redis: createRedisStore needs an options object with \`client\`; got ${describe(options)}`,
    );
  }
  rejectUnknownOptions("createRedisStore", options, OPTION_NAMES);
  const why = unsupported(options.client);
  if (why !== undefined) throw new TypeError(`@idemkit/redis: client: ${why}`);
  const connection = connectionOf(options.client);
  if (connection === undefined) {
    throw new TypeError(
      "@idemkit/redis: client must be an ioredis Redis or Cluster, or a node-redis client or Cluster " +
        `(createClient, createCluster); got ${describe(options.client)}`,
    );
  }
  return {
    connection,
    prefix: stringOption("prefix", options.prefix) ?? "",
    // Node's timers hold up to 2^31 - 1 ms; a longer one would fire at once.
    timeoutMs: integerOption("commandTimeoutMs", options.commandTimeoutMs, 0, 2 ** 31 - 1) ?? 2000,
  };
}
