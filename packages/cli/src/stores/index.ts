import { redact, type Target } from "../connection.js";
import { CliError, EXIT, usage } from "../errors.js";
import { openMongo } from "./mongodb.js";
import { openMySql } from "./mysql.js";
import { openPostgres } from "./postgres.js";
import { openRedis } from "./redis.js";
import { openSqlite } from "./sqlite.js";
import type { OpenStore, StoreOptions } from "./types.js";

/** The store options that apply to each kind of store: any other given is a usage error. */
const APPLIES: Record<string, Target["kind"][]> = {
  table: ["sqlite", "postgres", "mysql"],
  schema: ["postgres"],
  collection: ["mongodb"],
  redisPrefix: ["redis", "redis-cluster"],
  redisClient: ["redis", "redis-cluster"],
};
const FLAGS: Record<string, string> = {
  table: "--table",
  schema: "--schema",
  collection: "--collection",
  redisPrefix: "--redis-prefix",
  redisClient: "--redis-client",
};

/** Connects to the store `target` names; a failure to connect is a `CliError` (exit 4) naming the URL. */
export async function openStore(target: Target, url: string, options: StoreOptions): Promise<OpenStore> {
  for (const [name, kinds] of Object.entries(APPLIES)) {
    if (options[name as keyof StoreOptions] !== undefined && !kinds.includes(target.kind)) {
      throw usage(
        `${FLAGS[name]} does not apply to a ${target.kind} store (it applies to ${kinds.join(", ")})`,
      );
    }
  }
  try {
    switch (target.kind) {
      case "redis":
      case "redis-cluster":
        return await openRedis(target, options);
      case "postgres":
        return await openPostgres(target, options);
      case "mysql":
        return await openMySql(target, options);
      case "sqlite":
        return await openSqlite(target, options);
      case "mongodb":
        return await openMongo(target, options);
    }
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(
      EXIT.STORE,
      `cannot reach the ${target.kind} store at ${redact(url)}: ${messageOf(error)}`,
      {
        cause: error,
      },
    );
  }
}

/** An error's message, or the messages of an AggregateError (a connection refused on IPv4 and IPv6). */
export function messageOf(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    return [...new Set(error.errors.map(messageOf))].join("; ");
  }
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
