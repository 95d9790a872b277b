export { encodeKey, keyHash } from "./key.js";
export { AutocommitOffError } from "./lease.js";
export {
  type MySqlTableOptions,
  migrate,
  mysqlSchemaSql,
  type Queryable,
  quoteIdentifier,
} from "./schema.js";
export {
  createMySqlStore,
  type MySqlStore,
  type MySqlStoreOptions,
  type MySqlTransactionBusy,
  type MySqlTransactionClaim,
} from "./store.js";
export {
  ConnectionLostError,
  DeadlockError,
  type IsolationLevel,
  type TransactionOptions,
} from "./transaction.js";
