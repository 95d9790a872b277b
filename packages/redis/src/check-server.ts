import type { Connection, Server } from "./clients.js";
import { RedisStoreError } from "./errors.js";

/** What `checkServer()` found on one server. */
export interface RedisServerPolicy {
  /** `host:port` of the server: the client's server, or one master of a Cluster. */
  node: string;
  /**
   * Its `maxmemory-policy`, read with `CONFIG GET` or, where CONFIG is refused (most managed Redis
   * services), from `INFO memory`; `undefined` when the server refused both.
   */
  maxmemoryPolicy: string | undefined;
  /** The server's refusals, when the policy could not be read. */
  unknown?: string;
}

/** Bounds a call to Redis by the store's timeout; a failure becomes a `RedisStoreError` with its cause. */
export type Bounded = <T>(operation: string, reply: Promise<T>) => Promise<T>;

/** CONFIG GET's value: `[name, value]` (RESP2), or an object of names (node-redis under RESP3). */
function configValue(reply: unknown, name: string): unknown {
  if (Array.isArray(reply)) return reply[1];
  if (reply instanceof Map) return reply.get(name);
  if (typeof reply === "object" && reply !== null) return (reply as Record<string, unknown>)[name];
  return undefined;
}

/**
 * `maxmemory-policy` on the client's server or on every master of a Cluster (see `checkServer` in
 * redis-store.ts): rejects naming each server whose policy is not `noeviction`.
 */
export async function checkServers(connection: Connection, bounded: Bounded): Promise<RedisServerPolicy[]> {
  // An error reply is a refusal (an ACL without CONFIG or INFO), except a protocol error: the
  // command never reached the server intact, so nothing was read.
  const refusal = (error: unknown) =>
    error instanceof RedisStoreError &&
    connection.isErrorReply(error.cause) &&
    !(error.cause as Error).message.startsWith("ERR Protocol error")
      ? (error.cause as Error).message
      : undefined;

  /** The policy of one server: CONFIG GET, else INFO memory (allowed where CONFIG is not), else unknown. */
  async function policyOf({ name, command }: Server): Promise<RedisServerPolicy> {
    const refusals: string[] = [];
    try {
      const reply = await bounded("checkServer", command(["CONFIG", "GET", "maxmemory-policy"]));
      const policy = configValue(reply, "maxmemory-policy");
      if (typeof policy === "string") return { node: name, maxmemoryPolicy: policy };
      refusals.push(`CONFIG GET answered ${JSON.stringify(reply)}`);
    } catch (error) {
      const why = refusal(error);
      if (why === undefined) throw error;
      refusals.push(`CONFIG GET: ${why}`);
    }
    try {
      const info = String(await bounded("checkServer", command(["INFO", "memory"])));
      const policy = /^maxmemory_policy:(.+?)\r?$/m.exec(info)?.[1];
      if (policy) return { node: name, maxmemoryPolicy: policy };
      refusals.push("INFO memory has no maxmemory_policy");
    } catch (error) {
      const why = refusal(error);
      if (why === undefined) throw error;
      refusals.push(`INFO memory: ${why}`);
    }
    return { node: name, maxmemoryPolicy: undefined, unknown: refusals.join("; ") };
  }

  /** The server's role (`master`, `slave`): ROLE, else INFO replication; `undefined` if both refused. */
  async function roleOf({ command }: Server): Promise<string | undefined> {
    try {
      const reply = await bounded("checkServer", command(["ROLE"]));
      if (Array.isArray(reply) && typeof reply[0] === "string") return reply[0];
    } catch (error) {
      if (refusal(error) === undefined) throw error;
    }
    try {
      const info = String(await bounded("checkServer", command(["INFO", "replication"])));
      return /^role:(.+?)\r?$/m.exec(info)?.[1];
    } catch (error) {
      if (refusal(error) === undefined) throw error;
      return undefined;
    }
  }

  const servers = await bounded("checkServer", connection.servers());
  // A replica answers the checks below like its master, but refuses every script (READONLY).
  const roles = await Promise.all(servers.map(roleOf));
  const replicas = servers.filter((_, i) => roles[i] !== undefined && roles[i] !== "master");
  if (replicas.length > 0) {
    const which = replicas.map((server) => server.name).join(", ");
    throw new RedisStoreError(
      "checkServer",
      `${which} is a replica (role ${roles[servers.indexOf(replicas[0] as Server)]}), not a master: it ` +
        "refuses every write (READONLY), so every claim would fail. Connect the client to the master",
    );
  }
  const found = await Promise.all(servers.map(policyOf));
  const evicting = found.filter((f) => f.maxmemoryPolicy !== undefined && f.maxmemoryPolicy !== "noeviction");
  if (evicting.length > 0) {
    const which = evicting.map((f) => `${f.maxmemoryPolicy} on ${f.node}`).join(", ");
    throw new RedisStoreError(
      "checkServer",
      `maxmemory-policy is ${which}; idemkit needs noeviction. Redis may evict idemkit's keys when it ` +
        "reaches maxmemory: a live claim evicted lets a second owner in with the same fence, an evicted " +
        "outcome lets its work run again. Set maxmemory-policy noeviction (a full Redis then refuses " +
        "writes, and idemkit answers 503)",
    );
  }
  return found;
}
