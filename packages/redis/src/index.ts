export type { RedisServerPolicy } from "./check-server.js";
export type { IoredisClient, NodeRedisClient, NodeRedisCluster, RedisClient } from "./clients.js";
export { RedisStoreError } from "./errors.js";
export { createRedisStore, type RedisStore, type RedisStoreOptions } from "./redis-store.js";
