export { DEFAULT_TABLE, migrate, quoteIdentifier, sqliteSchema } from "./schema.js";
export {
  createSqliteStore,
  type SqliteStore,
  type SqliteStoreOptions,
  type SyncTransactionalWork,
} from "./sqlite-store.js";
