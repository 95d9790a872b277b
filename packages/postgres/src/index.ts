export {
  migrate,
  type PostgresTableOptions,
  postgresSchemaSql,
  type Queryable,
  quoteIdentifier,
} from "./schema.js";
export {
  createPostgresStore,
  encodeKey,
  keyHash,
  type PostgresStore,
  type PostgresStoreOptions,
  type PostgresTransactionBusy,
  type PostgresTransactionClaim,
} from "./store.js";
export {
  ConnectionLostError,
  type IsolationLevel,
  SerializationError,
  type TransactionOptions,
} from "./transaction.js";
