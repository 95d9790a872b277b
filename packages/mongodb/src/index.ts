export {
  createMongoStore,
  DEFAULT_COLLECTION_NAME,
  type MongoIdempotencyDocument,
  type MongoStore,
  type MongoStoreOptions,
  TTL_INDEX_NAME,
} from "./mongo-store.js";
