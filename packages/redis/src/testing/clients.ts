// Test support, neither built nor published: the servers the tests use, node-redis clients opened as
// the README tells users to, and a client-side count of the commands a client sends.
import {
  type AnyRedisClientOptions,
  createClient,
  createCluster,
  type RedisClientType,
  type RedisClusterOptions,
  type RedisClusterType,
} from "@redis/client";
import { Redis, type RedisOptions } from "ioredis";
import type { RedisClient } from "../clients.js";

export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

// Start the cluster with `scripts/redis-cluster.sh start` (repo root).
export const CLUSTER_NODES = (
  process.env.REDIS_CLUSTER_NODES ?? "127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002"
)
  .split(",")
  .map((node) => {
    const [host = "127.0.0.1", port = "7000"] = node.trim().split(":");
    return { host, port: Number(port) };
  });

/** Why the single Redis cannot be used, or `undefined` when it answers. */
export async function probeRedis(): Promise<string | undefined> {
  const client = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 1000, retryStrategy: () => null });
  let lastError: Error | undefined;
  client.on("error", (error) => {
    lastError = error;
  });
  try {
    await client.connect();
    await client.ping();
    return undefined;
  } catch (error) {
    return `no Redis at ${REDIS_URL} (${(lastError ?? (error as Error)).message}); start one or set REDIS_URL`;
  } finally {
    client.disconnect();
  }
}

/** Why the Cluster cannot be used, or `undefined` when every node is in state ok. */
export async function probeCluster(): Promise<string | undefined> {
  for (const { host, port } of CLUSTER_NODES) {
    const client = new Redis({
      host,
      port,
      lazyConnect: true,
      connectTimeout: 1000,
      retryStrategy: () => null,
    });
    let lastError: Error | undefined;
    client.on("error", (error) => {
      lastError = error;
    });
    try {
      await client.connect();
      const info = await client.cluster("INFO");
      if (!/^cluster_state:ok/m.test(info))
        return `the Redis Cluster node ${host}:${port} is not in state ok`;
    } catch (error) {
      return `no Redis Cluster node at ${host}:${port} (${(lastError ?? (error as Error)).message}); run scripts/redis-cluster.sh start or set REDIS_CLUSTER_NODES`;
    } finally {
      client.disconnect();
    }
  }
  return undefined;
}

export type NodeRedis = RedisClientType;
export type NodeRedisCluster = RedisClusterType;

/**
 * A connected node-redis client (`REDIS_URL` unless the options say otherwise). Its errors are
 * listened to (node-redis throws an unheard one): failures reach the tests through the store.
 */
export async function nodeRedis(options: AnyRedisClientOptions = {}): Promise<NodeRedis> {
  const client = createClient({ url: REDIS_URL, ...options }) as unknown as NodeRedis;
  client.on("error", () => {});
  await client.connect();
  return client;
}

/** A connected node-redis Cluster on `CLUSTER_NODES` (or `rootNodes` in the options). */
export async function nodeRedisCluster(
  options: Partial<RedisClusterOptions> = {},
): Promise<NodeRedisCluster> {
  const cluster = createCluster({
    rootNodes: CLUSTER_NODES.map(({ host, port }) => ({ url: `redis://${host}:${port}` })),
    ...options,
  }) as unknown as NodeRedisCluster;
  cluster.on("error", () => {});
  await cluster.connect();
  return cluster;
}

/**
 * Records, in the returned array, the name of every command `target.sendCommand` is asked to send,
 * as it sends it: counted on the store's own client, since the server's INFO commandstats are shared
 * with anyone else using it. `nameOf` reads the name from that client's arguments.
 */
export function recordSent(
  target: { sendCommand: (...args: never[]) => unknown },
  nameOf: (args: unknown[]) => unknown,
): string[] {
  const sent: string[] = [];
  const send = target.sendCommand.bind(target) as (...args: unknown[]) => unknown;
  target.sendCommand = ((...args: unknown[]) => {
    sent.push(String(nameOf(args)).toLowerCase());
    return send(...args);
  }) as typeof target.sendCommand;
  return sent;
}

/** The command names of each client's `sendCommand`: ioredis (a Command), node-redis client and Cluster. */
export const commandName = {
  ioredis: (args: unknown[]) => (args[0] as { name: string }).name,
  nodeRedis: (args: unknown[]) => (args[0] as unknown[])[0],
};

/** A client of either library for the store, how to close it, and `record()` to count what it sends. */
export interface TestClient {
  client: RedisClient;
  close(): Promise<unknown>;
  /** Starts recording the commands the client sends (see `recordSent`); returns the record. */
  record(): string[];
}

/** Opens standalone clients on `REDIS_URL`, of each library. */
export const standalone = {
  ioredis: async (options: RedisOptions = {}): Promise<TestClient> => {
    const client = new Redis(REDIS_URL, options);
    return { client, close: () => client.quit(), record: () => recordSent(client, commandName.ioredis) };
  },
  nodeRedis: async (options: AnyRedisClientOptions = {}): Promise<TestClient> => {
    const client = await nodeRedis(options);
    return { client, close: () => client.close(), record: () => recordSent(client, commandName.nodeRedis) };
  },
};

/**
 * The standalone clients the store is tested on: ioredis, also with auto-pipelining (it batches
 * commands per tick), and node-redis under RESP3 (its default) and RESP2.
 */
export const STANDALONE_CLIENTS: [string, () => Promise<TestClient>][] = [
  ["ioredis", () => standalone.ioredis()],
  ["ioredis, enableAutoPipelining", () => standalone.ioredis({ enableAutoPipelining: true })],
  ["node-redis", () => standalone.nodeRedis()],
  ["node-redis, RESP2", () => standalone.nodeRedis({ RESP: 2 })],
];
