import type { RedisClient, RedisStore } from "@idemkit/redis";
import type { Target } from "../connection.js";
import { CliError, EXIT } from "../errors.js";
import { exported, loadOptional } from "../load.js";
import { type OpenStore, quietly, type StoreOptions } from "./types.js";

type RedisTarget = Extract<Target, { kind: "redis" | "redis-cluster" }>;

const INSTALL = "npm install @idemkit/redis ioredis (or @redis/client)";

/** A connected client of one library, and how to close it. */
interface Connected {
  client: RedisClient;
  close(): Promise<void>;
}

/** Whether a package can be loaded (`--redis-client` not given: the one installed wins, ioredis first). */
async function installed(name: string): Promise<boolean> {
  try {
    await loadOptional(name, "", "");
    return true;
  } catch (error) {
    if (error instanceof CliError && error.exitCode === EXIT.UNAVAILABLE) return false;
    throw error;
  }
}

/** The Redis client library installed, ioredis first; neither: a `CliError` (exit 3) saying what to install. */
async function installedLibrary(): Promise<"ioredis" | "node-redis"> {
  if (await installed("ioredis")) return "ioredis";
  if ((await installed("@redis/client")) || (await installed("redis"))) return "node-redis";
  throw new CliError(
    EXIT.UNAVAILABLE,
    `a redis:// URL needs a Redis client, ioredis or node-redis (@redis/client), and neither is installed: ${INSTALL}`,
  );
}

/**
 * Rejects when `connecting` has not settled within `timeoutMs`. Both libraries' connect timeouts end
 * with the TCP connection: a server that accepts it and never answers the handshake (ioredis' INFO,
 * node-redis' HELLO) would otherwise hold the CLI forever.
 */
async function connectedWithin(connecting: Promise<unknown>, timeoutMs: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs}ms`)), timeoutMs);
  });
  try {
    await Promise.race([connecting, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** ioredis, failing fast: no reconnection, no offline queue, connected before the store gets it. */
async function ioredis(target: RedisTarget, timeoutMs: number): Promise<Connected> {
  const mod = await loadOptional<object>("ioredis", "a redis:// URL", INSTALL);
  const failFast = {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: timeoutMs,
  };
  type Client = RedisClient & {
    connect(): Promise<void>;
    disconnect(): void;
    quit(): Promise<unknown>;
    on(event: "error", listener: (error: Error) => void): void;
  };
  let client: Client;
  if (target.kind === "redis") {
    const Redis = exported<new (url: string, options: object) => Client>(mod, "Redis");
    client = new Redis(target.url, { ...failFast, retryStrategy: () => null });
  } else {
    const Cluster = exported<new (nodes: object[], options: object) => Client>(mod, "Cluster");
    const { username, password, tls } = target;
    client = new Cluster(target.nodes, {
      lazyConnect: true,
      enableOfflineQueue: false,
      clusterRetryStrategy: () => null,
      redisOptions: { ...failFast, username, password, ...(tls && { tls: {} }) },
    });
  }
  // connect() rejects with "Connection is closed." once it gives up: the socket's own error says why.
  let lastError: Error | undefined;
  client.on("error", (error: Error) => {
    lastError = error;
  });
  try {
    await connectedWithin(client.connect(), timeoutMs);
    // ioredis reports a failed SELECT (the URL's database out of range) as an error event and goes on
    // connected to database 0: the CLI would read and purge another database's keys.
    if (lastError && target.kind === "redis") throw lastError;
  } catch (error) {
    client.disconnect();
    throw lastError ?? error;
  }
  return { client, close: () => quietly(() => client.quit()) };
}

/** node-redis (`@redis/client` 6, or `redis` 5), failing fast likewise. */
async function nodeRedis(target: RedisTarget, timeoutMs: number): Promise<Connected> {
  let mod: object;
  try {
    mod = await loadOptional<object>(
      "@redis/client",
      "a redis:// URL with --redis-client node-redis",
      INSTALL,
    );
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    mod = await loadOptional<object>("redis", "a redis:// URL with --redis-client node-redis", INSTALL);
  }
  type Client = RedisClient & {
    connect(): Promise<unknown>;
    close?(): Promise<unknown>;
    quit?(): Promise<unknown>;
    destroy?(): void;
    on(event: "error", listener: (error: Error) => void): void;
  };
  const socket = { connectTimeout: timeoutMs, reconnectStrategy: false };
  let client: Client;
  if (target.kind === "redis") {
    const createClient = exported<(options: object) => Client>(mod, "createClient");
    client = createClient({ url: target.url, socket, disableOfflineQueue: true });
  } else {
    const createCluster = exported<(options: object) => Client>(mod, "createCluster");
    const scheme = target.tls ? "rediss" : "redis";
    client = createCluster({
      rootNodes: target.nodes.map(({ host, port }) => ({
        url: `${scheme}://${host.includes(":") ? `[${host}]` : host}:${port}`,
      })),
      defaults: { username: target.username, password: target.password, socket, disableOfflineQueue: true },
    });
  }
  client.on("error", () => {}); // connect() rejects with it
  try {
    await connectedWithin(client.connect(), timeoutMs);
  } catch (error) {
    await quietly(() => client.destroy?.());
    throw error;
  }
  return { client, close: () => quietly(() => (client.close ? client.close() : client.quit?.())) };
}

/** The Redis store over a client of the library asked for, or the one installed. */
export async function openRedis(target: RedisTarget, options: StoreOptions): Promise<OpenStore> {
  const { createRedisStore } = await loadOptional<{ createRedisStore(options: object): RedisStore }>(
    "@idemkit/redis",
    "a redis:// URL",
    INSTALL,
  );
  const library = options.redisClient ?? (await installedLibrary());
  const { client, close } = await (library === "ioredis" ? ioredis : nodeRedis)(target, options.timeoutMs);
  try {
    const store = createRedisStore({
      client,
      prefix: options.redisPrefix,
      commandTimeoutMs: options.timeoutMs,
    });
    return {
      store,
      name: target.kind,
      forgetsByItself: "each key expires at its keep-until time (a TTL)",
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
