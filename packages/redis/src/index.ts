export {
  createRedisStore,
  type RedisServerPolicy,
  type RedisStore,
  RedisStoreError,
  type RedisStoreOptions,
} from "./redis-store.js";
