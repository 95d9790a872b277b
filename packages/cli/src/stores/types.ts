import type { IdempotencyStore } from "@idemkit/core";

/** What the command line says about the store, beyond its URL. */
export interface StoreOptions {
  /** `--table` (SQLite, PostgreSQL, MySQL). */
  table?: string;
  /** `--schema` (PostgreSQL). */
  schema?: string;
  /** `--collection` (MongoDB). */
  collection?: string;
  /** `--redis-prefix`: the Redis store's `prefix` option. */
  redisPrefix?: string;
  /** `--redis-client`: which library to connect with; default the one installed, ioredis first. */
  redisClient?: "ioredis" | "node-redis";
  /** `--timeout`: connecting, and each call to the store. */
  timeoutMs: number;
  /** The command writes (purge, purge-expired): a SQLite file is opened read-only otherwise. */
  writes: boolean;
}

/** An open store and how to let it go. */
export interface OpenStore {
  store: IdempotencyStore;
  /** The store's name for messages: `redis`, `postgres`, … */
  name: string;
  /** Set when the store forgets expired records by itself (how), so `purge-expired` has nothing to do. */
  forgetsByItself?: string;
  /** Closes what the CLI opened (the client, the pool, the file). Never rejects. */
  close(): Promise<void>;
}

/** Runs `close`, ignoring its failure: the command's own outcome is what the CLI reports. */
export const quietly = async (close: () => unknown) => {
  try {
    await close();
  } catch {
    // Nothing to report: the connection is being dropped anyway.
  }
};
