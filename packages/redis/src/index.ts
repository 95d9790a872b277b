export { createRedisStore, RedisStoreError, type RedisStoreOptions } from "./redis-store.js";
