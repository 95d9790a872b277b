// Clients that look like ones the store takes but would be driven wrongly: each is refused when the
// store is created, saying what to pass instead, rather than failing (or answering wrongly) later.

type Shape = Record<string, unknown>;

const NODE_REDIS_6 = "@idemkit/redis supports node-redis 6 (`redis` or `@redis/client` ^6)";

/** Why `client` is refused, or `undefined` when it is not one of the unsupported kinds. */
export function unsupported(client: unknown): string | undefined {
  if (typeof client !== "object" || client === null) return undefined;
  const shape = client as Shape;
  const has = (name: string) => typeof shape[name] === "function";
  if (has("createBuiltinCommand")) return ioredisUnsupported(shape);

  // createSentinel, and the client it lends (acquire(), use()): their sendCommand takes other
  // arguments, so the store's frames were malformed ("ERR Protocol error").
  if (has("getMasterNode") || (has("release") && has("withTypeMapping") && has("sendCommand"))) {
    return (
      "node-redis Sentinel clients (createSentinel, or a client from its acquire() or use()) are not " +
      "supported. For Sentinel, pass an ioredis Redis created with `sentinels` and `name`; or pass a " +
      "node-redis createClient() connected to the master"
    );
  }
  // createClientPool keeps its keyPrefix to itself (`_keyPrefix`), so the store's keys would go
  // unprefixed and two apps separated by the prefix would share them.
  if (has("execute") && "totalClients" in shape) {
    return (
      "a node-redis client pool (createClientPool) is not supported. Pass a node-redis createClient() " +
      "(the store sends one command per call, so a pool gains it nothing), or an ioredis Redis"
    );
  }
  // node-redis 4 (`redis@4`, `@redis/client` 1.x) has no withTypeMapping: its Cluster would be taken
  // for a 6 one and its replies (strings) misread.
  if (has("sendCommand") && !has("withTypeMapping") && (has("executeIsolated") || has("nodeClient"))) {
    return (
      "this is a node-redis 4 client or Cluster (`redis@4`, `@redis/client` 1.x), which is not " +
      `supported: ${NODE_REDIS_6}. Upgrade node-redis, or pass an ioredis client`
    );
  }
  return undefined;
}

/**
 * ioredis with `stringNumbers` (any truthy value: ioredis reads it so) replies to every integer with a
 * string, so the scripts' answers (a fence, "completed", "released") would be misread: every acquire
 * failed. A Cluster's nodes take it from `redisOptions` or from a startup node's own options; a
 * Cluster's top-level `stringNumbers` is not passed on.
 */
function ioredisUnsupported(client: Shape): string | undefined {
  type Options = { stringNumbers?: unknown; redisOptions?: { stringNumbers?: unknown } };
  const options = client.options as Options | undefined;
  const nodes = Array.isArray(client.startupNodes) ? (client.startupNodes as unknown[]) : [];
  const set = client.isCluster
    ? Boolean(options?.redisOptions?.stringNumbers) ||
      nodes.some(
        (node) => typeof node === "object" && node !== null && Boolean((node as Options).stringNumbers),
      )
    : Boolean(options?.stringNumbers);
  if (!set) return undefined;
  return (
    "an ioredis client created with `stringNumbers` is not supported: the store reads the scripts' " +
    "integer replies as numbers. Pass a client without it (for a Redis, " +
    "`client.duplicate({ stringNumbers: false })`)"
  );
}
