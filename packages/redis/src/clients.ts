// The seam between the store and the client it is given: ioredis (`Redis`, `Cluster`) or node-redis
// (`createClient`, `createCluster`), each turned into the few operations the store needs. Neither
// library is imported at run time, and their types are not in the store's public types, so a user
// installs only the client they use.
import type { Cluster as IoredisCluster, Redis as IoredisRedis } from "ioredis";
import { senderOf } from "./ioredis-commands.js";
import { writeBatcherOf } from "./write-batcher.js";

/** A command argument or key, as both clients take it. */
export type Argument = string | Buffer;

/**
 * A script's reply, bulk strings as Buffers: an integer, a record, `[fence, takeover]`, `[record, outcome
 * key's list]`, or nil.
 */
export type Reply = number | null | Buffer | (Buffer | number | null | Buffer[])[];

/** One server `checkServer()` reads: the client's, or one master of a Cluster. */
export interface Server {
  name: string;
  /** Sends one command; replies in the client's default types (strings, arrays, objects). */
  command(args: string[]): Promise<unknown>;
}

/** What the store does with a client, whichever library it comes from. */
export interface Connection {
  /**
   * `EVALSHA <sha> <n> …keys …args` or `EVAL <lua> <n> …keys …args` on the node that holds the keys (one
   * slot), the client's own `keyPrefix` before each key; bulk replies as Buffers (outcomes are bytes).
   * One command.
   */
  script(kind: "evalsha" | "eval", body: string, keys: Argument[], args: Argument[]): Promise<Reply>;
  /**
   * `RPUSHX <key> …elements` (the client's own `keyPrefix` before the key), on the node that holds it:
   * appends to a list that exists, else writes nothing.
   */
  appendList(key: Argument, elements: Buffer[]): Promise<unknown>;
  /**
   * `GET <key>` (the client's own `keyPrefix` before it), the value as a Buffer or null, on the server
   * the scripts run on. Only on standalone clients: see large-reads.ts.
   */
  read?: (key: Argument) => Promise<Buffer | null>;
  /** `LRANGE <key> 0 -1`, the elements as Buffers, where `read` is. */
  readList?: (key: Argument) => Promise<Buffer[]>;
  /**
   * How many times the client has lost its connection so far, where it resends unanswered commands
   * after reconnecting (ioredis): replies to commands sent together came from one server only if this
   * did not change in between.
   */
  connections?: () => number;
  /** Runs `send`, whose commands leave in one write where the client lets the store say so. */
  together(send: () => void): void;
  /** The client's server, or every master of a Cluster. */
  servers(): Promise<Server[]>;
  /** Whether the client is a Cluster client: a script must then declare every key it touches. */
  readonly cluster: boolean;
  /** Redis answered with an error (a refusal), as opposed to no answer at all. */
  isErrorReply(error: unknown): boolean;
  /** The client's own `keyPrefix` (`""` when it has none): the keys a `SCAN` finds start with it. */
  readonly keyPrefix: string;
  /** The same as bytes, as Redis sees them (node-redis takes a Buffer too). */
  readonly keyPrefixBytes: Buffer;
}

/**
 * An ioredis `Redis` or `Cluster`, as far as the store needs to tell it (typed here rather than
 * imported, like the node-redis types below).
 */
export interface IoredisClient {
  readonly isCluster: boolean;
  readonly options: object;
  createBuiltinCommand(name: string): { buffer: unknown };
}

/** Options node-redis takes with each command. */
interface NodeRedisCommandOptions {
  typeMapping?: object;
}

/** A node-redis client (`createClient` of `redis` or `@redis/client` 6), connected. */
export interface NodeRedisClient {
  sendCommand(args: Argument[], options?: NodeRedisCommandOptions): Promise<unknown>;
  /** A proxy of the client whose commands take `typeMapping`, the client's other options kept. */
  withTypeMapping(typeMapping: object): NodeRedisClient;
  readonly options?: { keyPrefix?: Argument; socket?: object } | undefined;
}

/** A node-redis Cluster (`createCluster` of `redis` or `@redis/client` 6), connected. */
export interface NodeRedisCluster {
  sendCommand(
    firstKey: Argument | undefined,
    isReadonly: boolean | undefined,
    args: Argument[],
    options?: NodeRedisCommandOptions,
  ): Promise<unknown>;
  readonly masters: readonly { host: string; port: number }[];
  nodeClient(node: { host: string; port: number }): Promise<NodeRedisClient>;
}

/** The clients the store accepts. */
export type RedisClient = IoredisClient | NodeRedisClient | NodeRedisCluster;

/** The connection over `client`, or `undefined` when it is none of the clients above. */
export function connectionOf(client: unknown): Connection | undefined {
  if (typeof client !== "object" || client === null) return undefined;
  const has = (name: string) => typeof (client as Record<string, unknown>)[name] === "function";
  if (has("createBuiltinCommand") && has("sendCommand")) return fromIoredis(client as IoredisClient);
  if (has("nodeClient") && has("sendCommand")) return fromNodeRedisCluster(client as NodeRedisCluster);
  if (has("withTypeMapping") && has("sendCommand")) return fromNodeRedisClient(client as NodeRedisClient);
  return undefined;
}

function fromIoredis(client: IoredisClient): Connection {
  // ioredis's builtin commands, made without auto-pipelining: each is one `sendCommand` of a Command
  // that applies the client's own keyPrefix and keeps bulk replies as Buffers. (`callBuffer` is
  // mangled under enableAutoPipelining.) Made by `senderOf` where it can, which skips ioredis's copy of
  // the arguments (the rest parameter is a fresh array each call, as it wants).
  type Send = (this: IoredisClient, ...args: (Argument | number)[]) => Promise<Reply>;
  const direct = senderOf(client as unknown as IoredisRedis);
  const command = (name: string): Send =>
    direct
      ? (...args) => direct(name, args) as Promise<Reply>
      : (client.createBuiltinCommand(name).buffer as Send);
  const send = {
    evalsha: command("evalsha"),
    eval: command("eval"),
    get: command("get") as unknown as (this: IoredisClient, key: Argument) => Promise<Buffer | null>,
    rpushx: command("rpushx") as unknown as (this: IoredisClient, ...args: Argument[]) => Promise<unknown>,
    lrange: command("lrange") as unknown as (
      this: IoredisClient,
      key: Argument,
      start: number,
      stop: number,
    ) => Promise<Buffer[]>,
  };
  const server = (node: IoredisRedis): Server => {
    const { host, port, sentinels, name } = node.options;
    return {
      name: sentinels ? `${name} (through Sentinel)` : `${host}:${port}`,
      command: ([command = "", ...args]) => node.call(command, ...args),
    };
  };
  const writes = client.isCluster ? undefined : writeBatcherOf(client as unknown as IoredisRedis);
  /** One command, sent through the client's write batcher where it has one. */
  const batched = <T>(command: () => Promise<T>): Promise<T> => {
    writes?.hold();
    const reply = command();
    writes?.sent(reply);
    return reply;
  };
  return {
    script: (kind, body, keys, args) =>
      batched(() => send[kind].call(client, body, keys.length, ...keys, ...args)),
    appendList: (key, elements) => batched(() => send.rpushx.call(client, key, ...elements)),
    read: writes ? (key) => batched(() => send.get.call(client, key)) : undefined,
    readList: writes ? (key) => batched(() => send.lrange.call(client, key, 0, -1)) : undefined,
    cluster: client.isCluster,
    together: (commands) => (writes ? writes.together(commands) : commands()),
    connections: writes ? closesOf(client as unknown as IoredisRedis) : undefined,
    async servers() {
      if (!client.isCluster) return [server(client as unknown as IoredisRedis)];
      const cluster = client as unknown as IoredisCluster & {
        refreshSlotsCache(callback: (error?: Error | null) => void): void;
      };
      // The masters are known once the Cluster has loaded its slots.
      if (cluster.nodes("master").length === 0) await cluster.cluster("SLOTS");
      // The cached topology may predate a failover (it is refreshed on a MOVED, not on a schedule):
      // read the current masters first.
      await new Promise<void>((resolve, reject) =>
        cluster.refreshSlotsCache((error) => (error ? reject(error) : resolve())),
      );
      return cluster.nodes("master").map(server);
    },
    isErrorReply: (error) => error instanceof Error && error.name === "ReplyError",
    ...keyPrefixOf((client.options as { keyPrefix?: string }).keyPrefix),
  };
}

/** Counts the client's lost connections (its `close` events), one listener per client. */
const closeCounts = new WeakMap<IoredisRedis, () => number>();
function closesOf(client: IoredisRedis): () => number {
  let count = closeCounts.get(client);
  if (count === undefined) {
    let closes = 0;
    client.on("close", () => {
      closes++;
    });
    count = () => closes;
    closeCounts.set(client, count);
  }
  return count;
}

// node-redis's RESP_TYPES.BLOB_STRING ("$"): bulk strings as Buffers. Given with every command, it
// replaces the client's own typeMapping, so other types keep node-redis's defaults (integers as
// numbers) whatever the client was created with; `{}` asks for the defaults alone.
const BUFFERS = { 36: Buffer };
const DEFAULTS = {};

/** The client's own `keyPrefix` before the key (node-redis applies it to typed commands only). */
function prefixed(prefix: Argument | undefined, key: Argument): Argument {
  if (prefix === undefined || prefix.length === 0) return key;
  if (typeof prefix === "string" && typeof key === "string") return prefix + key;
  return Buffer.concat([Buffer.from(prefix), Buffer.from(key)]);
}

/** The client's `keyPrefix` as the Connection gives it. */
function keyPrefixOf(keyPrefix: Argument | undefined) {
  return {
    keyPrefix: String(keyPrefix ?? ""),
    keyPrefixBytes: typeof keyPrefix === "string" ? Buffer.from(keyPrefix) : (keyPrefix ?? Buffer.alloc(0)),
  };
}

/** A script's command as node-redis sends it (the keys given with the client's `keyPrefix`). */
const scriptCommand = (kind: string, body: string, keys: Argument[], args: Argument[]): Argument[] => [
  kind.toUpperCase(),
  body,
  String(keys.length),
  ...keys,
  ...args,
];

/**
 * Sends a command on `client` with bulk replies as Buffers. node-redis spends ~5 µs more of CPU on a
 * command given options of its own than on one sent through a proxy that holds them (a GET at 64 in
 * flight: 8.1–9.9 against 4.2–5.1 µs), so a proxy made once sends it while its `sendCommand` and the
 * client's are node-redis's own method (a class's, not one put on an object since). Otherwise a wrapper
 * takes every command, with the mapping given per command as before: one bound to a client would
 * send a proxy's calls without it.
 */
function sendingBuffers(client: NodeRedisClient): (args: Argument[]) => Promise<unknown> {
  const proxy = client.withTypeMapping(BUFFERS);
  const own = isClassMethod(proxy, "sendCommand") ? proxy.sendCommand : undefined;
  return (args) =>
    own !== undefined && client.sendCommand === own && proxy.sendCommand === own
      ? proxy.sendCommand(args)
      : client.sendCommand(args, { typeMapping: BUFFERS });
}

/** Whether `name`, looked up on `object`, is a class's method (on its prototype), not one put on an object. */
function isClassMethod(object: object, name: string): boolean {
  for (let at: object | null = object; at !== null; at = Object.getPrototypeOf(at)) {
    if (Object.hasOwn(at, name)) {
      const maker = (at as { constructor?: unknown }).constructor;
      return Object.hasOwn(at, "constructor") && typeof maker === "function" && maker.prototype === at;
    }
  }
  return false;
}

function fromNodeRedisClient(client: NodeRedisClient): Connection {
  const keyPrefix = client.options?.keyPrefix;
  const socket = client.options?.socket as { host?: string; port?: number; path?: string } | undefined;
  const name = socket?.path ?? `${socket?.host ?? "localhost"}:${socket?.port ?? 6379}`;
  const inBuffers = sendingBuffers(client);
  return {
    script: (kind, body, keys, args) =>
      inBuffers(
        scriptCommand(
          kind,
          body,
          keys.map((key) => prefixed(keyPrefix, key)),
          args,
        ),
      ) as Promise<Reply>,
    appendList: (key, elements) => client.sendCommand(["RPUSHX", prefixed(keyPrefix, key), ...elements]),
    read: (key) => inBuffers(["GET", prefixed(keyPrefix, key)]) as Promise<Buffer | null>,
    readList: (key) => inBuffers(["LRANGE", prefixed(keyPrefix, key), "0", "-1"]) as Promise<Buffer[]>,
    // node-redis writes the commands of one tick together.
    together: (send) => send(),
    cluster: false,
    servers: async () => [{ name, command: (args) => client.sendCommand(args, { typeMapping: DEFAULTS }) }],
    isErrorReply: isNodeRedisErrorReply,
    ...keyPrefixOf(keyPrefix),
  };
}

function fromNodeRedisCluster(cluster: NodeRedisCluster): Connection {
  const keyPrefix = (cluster as { _options?: { keyPrefix?: Argument } })._options?.keyPrefix;
  return {
    script(kind, body, keys, args) {
      const ks = keys.map((key) => prefixed(keyPrefix, key));
      // Routed by the first key to its master (not read-only: every script may write).
      return cluster.sendCommand(ks[0], false, scriptCommand(kind, body, ks, args), {
        typeMapping: BUFFERS,
      }) as Promise<Reply>;
    },
    appendList(key, elements) {
      const k = prefixed(keyPrefix, key);
      return cluster.sendCommand(k, false, ["RPUSHX", k, ...elements]);
    },
    together: (send) => send(),
    cluster: true,
    async servers() {
      // Known once the Cluster is connected; an empty list would read as "every master is fine".
      if (cluster.masters.length === 0) throw new Error("the Cluster knows no masters: connect it first");
      // The cached topology may predate a failover (it is refreshed on a MOVED or a lost node):
      // rediscover it first, as node-redis does itself (`_slots` is a public field, if undocumented).
      await (cluster as { _slots?: { rediscover?(): Promise<void> } })._slots?.rediscover?.();
      return Promise.all(
        cluster.masters.map(async (master) => {
          const node = await cluster.nodeClient(master);
          return {
            name: `${master.host}:${master.port}`,
            command: (args: string[]) => node.sendCommand(args, { typeMapping: DEFAULTS }),
          };
        }),
      );
    },
    isErrorReply: isNodeRedisErrorReply,
    ...keyPrefixOf(keyPrefix),
  };
}

/** node-redis's `ErrorReply` (`SimpleError`, `BlobError`), told by its class: they set no `name`. */
function isNodeRedisErrorReply(error: unknown): boolean {
  for (
    let p = error instanceof Error ? Object.getPrototypeOf(error) : null;
    p;
    p = Object.getPrototypeOf(p)
  ) {
    if (p.constructor?.name === "ErrorReply") return true;
  }
  return false;
}
