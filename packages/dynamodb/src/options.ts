import { storeOptionChecks } from "@idemkit/core";

/**
 * Checks of what the store is given (the options of `createDynamoDbStore` and the durations each call
 * receives): core's shared checks for stores. Durations are bounded by core's `MAX_STORE_DURATION_MS`
 * (4 × 10^15 ms), which this store represents exactly: deadlines are DynamoDB numbers of milliseconds
 * since the epoch (now, about 1.8 × 10^12, plus a lease, a tolerance and a retention stays below 2^53).
 */
export const {
  describe,
  rejectUnknownOptions,
  integerOption,
  stringOption,
  functionOption,
  booleanOption,
  checkDuration,
} = storeOptionChecks("@idemkit/dynamodb");

/** The default `clockToleranceMs`: one second of skew between the app servers' clocks. */
export const DEFAULT_CLOCK_TOLERANCE_MS = 1000;
/** The largest `clockToleranceMs`: an hour. A larger skew is a broken clock, not a tolerance. */
export const MAX_CLOCK_TOLERANCE_MS = 3_600_000;

const OPTION_NAMES = ["client", "table", "keyAttribute", "ttlAttribute", "clockToleranceMs", "now"];

/** What the store reads from its options, checked and with defaults filled in. */
export interface CheckedOptions {
  table: string;
  keyAttribute: string;
  ttlAttribute: string;
  clockToleranceMs: number;
  now: () => number;
}

/** DynamoDB's rule for table names: 3 to 255 of `a-z A-Z 0-9 _ . -`. */
const TABLE_NAME = /^[a-zA-Z0-9_.-]{3,255}$/;

/** An attribute name of the table's design: 1 to 255 characters, not one the store uses itself. */
function attributeOption(name: string, value: unknown, fallback: string, taken: readonly string[]): string {
  const given = stringOption(name, value);
  if (given === undefined) return fallback;
  if (given.length === 0 || given.length > 255) {
    throw new TypeError(`@idemkit/dynamodb: ${name} must be 1 to 255 characters; got ${describe(given)}`);
  }
  if (taken.includes(given)) {
    throw new TypeError(
      `@idemkit/dynamodb: ${name} must not be one of the store's own attributes (${taken.join(", ")}); got ${describe(given)}`,
    );
  }
  return given;
}

/** `table`, `keyAttribute` and `ttlAttribute`, checked alike for the store and for `ensureTable`. */
export function tableOptions(given: Record<string, unknown>, ownAttributes: readonly string[]) {
  const table = stringOption("table", given.table);
  if (table === undefined || !TABLE_NAME.test(table)) {
    throw new TypeError(
      `@idemkit/dynamodb: table must be a DynamoDB table name (3 to 255 of a-z, A-Z, 0-9, _, . and -); got ${describe(table)}`,
    );
  }
  const keyAttribute = attributeOption("keyAttribute", given.keyAttribute, "pk", ownAttributes);
  const ttlAttribute = attributeOption("ttlAttribute", given.ttlAttribute, "ttl", ownAttributes);
  if (keyAttribute === ttlAttribute) {
    throw new TypeError(
      `@idemkit/dynamodb: keyAttribute and ttlAttribute must differ; both are ${describe(keyAttribute)}`,
    );
  }
  return { table, keyAttribute, ttlAttribute };
}

/** The options of `createDynamoDbStore`, checked: each failure names the option and what it accepts. */
export function checkStoreOptions(options: unknown, ownAttributes: readonly string[]): CheckedOptions {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `@idemkit/dynamodb: createDynamoDbStore needs an options object with \`client\` and \`table\`; got ${describe(options)}`,
    );
  }
  rejectUnknownOptions("createDynamoDbStore", options, OPTION_NAMES);
  const given = options as Record<string, unknown>;
  const { client } = given;
  if (
    typeof client !== "object" ||
    client === null ||
    typeof (client as { send?: unknown }).send !== "function"
  ) {
    throw new TypeError(
      `@idemkit/dynamodb: client must be a DynamoDBClient from @aws-sdk/client-dynamodb; got ${describe(client)}`,
    );
  }
  const { table, keyAttribute, ttlAttribute } = tableOptions(given, ownAttributes);
  const clockToleranceMs =
    integerOption("clockToleranceMs", given.clockToleranceMs, 0, MAX_CLOCK_TOLERANCE_MS) ??
    DEFAULT_CLOCK_TOLERANCE_MS;
  const now = functionOption<() => number>("now", given.now) ?? Date.now;
  return { table, keyAttribute, ttlAttribute, clockToleranceMs, now };
}
