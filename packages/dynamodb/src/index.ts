export { OutcomeTooLargeError } from "./errors.js";
export { encodeText, itemKey, MAX_PARTITION_KEY_BYTES } from "./key.js";
export { DEFAULT_CLOCK_TOLERANCE_MS, MAX_CLOCK_TOLERANCE_MS } from "./options.js";
export {
  createDynamoDbStore,
  type DynamoDbStore,
  type DynamoDbStoreOptions,
  OUTCOME_BYTES_GUARANTEED,
} from "./store.js";
export { type DynamoDbTableOptions, ensureTable } from "./table.js";
