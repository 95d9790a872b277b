import type {
  ClaimRequest,
  ClaimResult,
  CompleteRequest,
  IdempotencyRecord,
  IdempotencyStore,
} from "@idemkit/core";
import { type Cluster, Command, type Redis } from "ioredis";
import { checkDuration, describe, integerOption, rejectUnknownOptions, stringOption } from "./options.js";
import { CLAIM, COMPLETE, DELETE, EXTEND, GET, MALFORMED, RELEASE, type Script } from "./scripts.js";

export interface RedisStoreOptions {
  /**
   * Your ioredis client: a `Redis` or a `Cluster`. The store never connects, quits or reconfigures
   * it. For a bounded failure while Redis is down, create it with `enableOfflineQueue: false` and a
   * `commandTimeout` (see the README).
   */
  client: Redis | Cluster;
  /**
   * Prepended to every key, after the client's own `keyPrefix` if it has one. Default `""`: core
   * already prefixes its keys (`idem:` unless you set its `keyPrefix`).
   */
  prefix?: string;
  /**
   * Each operation rejects with a `RedisStoreError` when Redis has not answered within this many
   * milliseconds, whatever the client's own options. Default 2000; `0` disables the store's timer.
   */
  commandTimeoutMs?: number;
}

/** Why an operation failed: Redis unreachable, too slow, or an error reply. The outcome is unknown. */
export class RedisStoreError extends Error {
  override readonly name = "RedisStoreError";
  constructor(
    readonly operation: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`idemkit redis store: ${operation} failed: ${message}`, options);
  }
}

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

/** The idemkit store on Redis: the store contract, and a check of the server's configuration. */
export interface RedisStore extends IdempotencyStore {
  /**
   * Checks that Redis will never evict idemkit's keys: `maxmemory-policy` must be `noeviction` on the
   * client's server, or on every master of a Cluster. Under any other policy Redis deletes keys when
   * it reaches `maxmemory`, and idemkit's keys are candidates (every one has a TTL, so `volatile-*`
   * picks them first): a live claim evicted lets a second owner in with the same fence, an evicted
   * outcome lets its work run again. Call it once at start (`await store.checkServer()`).
   *
   * Resolves with what each server reports. Rejects with a `RedisStoreError` (operation `checkServer`)
   * naming each server whose policy is not `noeviction`, or when a server cannot be reached within
   * `commandTimeoutMs`. A server that refuses both `CONFIG GET` and `INFO` (an ACL without them) is
   * returned with `maxmemoryPolicy: undefined` and its refusals in `unknown`: the store cannot tell,
   * and nothing warns later, so check your provider's setting yourself.
   */
  checkServer(): Promise<RedisServerPolicy[]>;
}

type Reply = number | null | Buffer | (Buffer | number | null)[];

const isNoScript = (error: unknown) => error instanceof Error && error.message.startsWith("NOSCRIPT");
/** Redis answered with an error (a refusal), as opposed to no answer at all. */
const isReply = (error: unknown) =>
  error instanceof RedisStoreError && (error.cause as Error)?.name === "ReplyError";
// Whole milliseconds, rounded up: a lease or retention is never shortened by rounding.
const ms = (value: number) => String(Math.ceil(value));

const COLON = 0x3a;
const MINUS = 0x2d;
const COMPLETED = 0x63; // "c"
const IN_PROGRESS = 0x70; // "p"

/** Why a value is not a record of ours (see `decode`), thrown as the failure of the call that read it. */
class Malformed extends Error {}

/**
 * Decodes a record string (see scripts.ts): `<s><k><n>:<d>:<u>:<tl>:<fl>:<token><fingerprint><outcome>`.
 * The header is ASCII digits; token and fingerprint are UTF-8, sliced by their byte lengths. A value
 * that does not read exactly so (a state or flag not ours, a number out of range, lengths that do not
 * add up to the value's) throws `Malformed`: it is never handed to core as a record.
 */
function decode(value: Buffer): IdempotencyRecord {
  const state = value[0];
  if ((state !== IN_PROGRESS && state !== COMPLETED) || (value[1] !== 0x30 && value[1] !== 0x31)) {
    throw new Malformed("its state and takeover flag are not one of ours");
  }
  const fields = [0, 0, 0, 0, 0]; // n, d, u, tl, fl
  let i = 2;
  for (let f = 0; f < 5; f++) {
    let x = 0;
    const negative = value[i] === MINUS;
    if (negative) i++;
    const start = i;
    for (let c = value[i++]; c !== COLON; c = value[i++]) {
      if (c === undefined || c < 0x30 || c > 0x39) throw new Malformed("its header is not digits and colons");
      x = x * 10 + (c - 0x30);
    }
    if (i - 1 === start || !Number.isSafeInteger(x))
      throw new Malformed("a number in its header is out of range");
    fields[f] = negative ? -x : x;
  }
  const [fence, at, , tokenLength, fingerprintLength] = fields as [number, number, number, number, number];
  if (fence < 1) throw new Malformed(`its fence is ${fence}`);
  const fingerprintStart = i + tokenLength;
  const outcomeStart = fingerprintStart + fingerprintLength;
  if (outcomeStart > value.length || (state === IN_PROGRESS && outcomeStart !== value.length)) {
    throw new Malformed(`its lengths do not add up (${value.length} bytes)`);
  }
  const common = {
    token: value.toString("utf8", i, fingerprintStart),
    fingerprint: value.toString("utf8", fingerprintStart, outcomeStart),
    fence,
  };
  if (state === COMPLETED) {
    // Copy: ioredis may hand out a view into its shared parser buffer.
    return {
      state: "completed",
      ...common,
      result: new Uint8Array(value.subarray(outcomeStart)),
      expiresAt: at,
    };
  }
  return { state: "in_progress", ...common, leaseExpiresAt: at, takeover: value[1] === 0x31 };
}

/**
 * A command whose reply keeps bulk strings as Buffers (binary-safe outcomes). Sent with
 * `sendCommand` rather than `callBuffer`, which ioredis mangles under `enableAutoPipelining`.
 */
function bufferCommand(name: string, args: (string | number | Buffer)[], keyPrefix?: string): Command {
  // `sendCommand` skips what `callBuffer` did for us: applying the client's own `keyPrefix`.
  return new Command(name, args, { replyEncoding: null, keyPrefix });
}

/**
 * An idempotency store on Redis (standalone, Sentinel or Cluster) through ioredis. Every operation
 * is one Lua script on one key, judged by Redis's clock; scripts run by SHA and are re-sent whole
 * when Redis has lost them (`NOSCRIPT` after `SCRIPT FLUSH`, a restart or a failover).
 */
export function createRedisStore(options: RedisStoreOptions): RedisStore {
  const { client, prefix, timeoutMs } = checkOptions(options);
  const clientPrefix = (client.options as { keyPrefix?: string }).keyPrefix;

  async function send(script: Script, key: string, args: (string | Buffer)[]): Promise<Reply> {
    const rest = [1, prefix + key, ...args];
    try {
      return (await client.sendCommand(
        bufferCommand("evalsha", [script.sha, ...rest], clientPrefix),
      )) as Reply;
    } catch (error) {
      if (!isNoScript(error)) throw error;
      // The script cache was lost: EVAL runs it once and caches it again on that node.
      return (await client.sendCommand(bufferCommand("eval", [script.lua, ...rest], clientPrefix))) as Reply;
    }
  }

  const failure = (operation: string, error: unknown) =>
    new RedisStoreError(operation, error instanceof Error ? error.message : String(error), { cause: error });

  /** The failure of a call that found at `key` a value that is not a record of ours. */
  const malformed = (operation: string, key: string, why: string, cause?: unknown) =>
    new RedisStoreError(
      operation,
      `the value at key ${describe(prefix + key)} is not an idemkit record ${why}; ` +
        "remove it with store.delete(key)",
      { cause },
    );

  /** One promise and one timer per call: the timer rejects when Redis has not answered in time. */
  async function run(
    operation: string,
    script: Script,
    key: string,
    args: (string | Buffer)[],
  ): Promise<Reply> {
    try {
      return await bounded(operation, send(script, key, args));
    } catch (error) {
      const message = ((error as RedisStoreError).cause as Error | undefined)?.message;
      if (message?.startsWith(MALFORMED)) {
        throw malformed(
          operation,
          key,
          message.slice(MALFORMED.length + 1).replace(/ script: .*/s, ""),
          error,
        );
      }
      throw error;
    }
  }

  /** The record a script returned, or the call's failure if it is not one (`decode`). */
  function record(operation: string, key: string, value: Buffer): IdempotencyRecord {
    try {
      return decode(value);
    } catch (error) {
      if (error instanceof Malformed) throw malformed(operation, key, `(${error.message})`);
      throw error;
    }
  }

  function bounded<T>(operation: string, reply: Promise<T>): Promise<T> {
    if (timeoutMs === 0) {
      return reply.catch((error: unknown) => {
        throw failure(operation, error);
      });
    }
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new RedisStoreError(operation, `no reply from Redis within ${timeoutMs} ms`)),
        timeoutMs,
      );
      // A reply after the timeout settles nothing (the promise is already rejected) and is handled.
      reply.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(failure(operation, error));
        },
      );
    });
  }

  /** The policy of one server: CONFIG GET, else INFO memory (allowed where CONFIG is not), else unknown. */
  async function policyOf(node: Redis): Promise<RedisServerPolicy> {
    const { host, port, sentinels, name: master } = node.options;
    const name = sentinels ? `${master} (through Sentinel)` : `${host}:${port}`;
    const refusals: string[] = [];
    try {
      const reply = (await bounded("checkServer", node.call("CONFIG", "GET", "maxmemory-policy"))) as unknown;
      const policy = Array.isArray(reply) ? reply[1] : undefined;
      if (typeof policy === "string") return { node: name, maxmemoryPolicy: policy };
      refusals.push(`CONFIG GET answered ${JSON.stringify(reply)}`);
    } catch (error) {
      if (!isReply(error)) throw error;
      refusals.push(`CONFIG GET: ${((error as RedisStoreError).cause as Error).message}`);
    }
    try {
      const info = String(await bounded("checkServer", node.call("INFO", "memory")));
      const policy = /^maxmemory_policy:(.+?)\r?$/m.exec(info)?.[1];
      if (policy) return { node: name, maxmemoryPolicy: policy };
      refusals.push("INFO memory has no maxmemory_policy");
    } catch (error) {
      if (!isReply(error)) throw error;
      refusals.push(`INFO memory: ${((error as RedisStoreError).cause as Error).message}`);
    }
    return { node: name, maxmemoryPolicy: undefined, unknown: refusals.join("; ") };
  }

  return {
    async checkServer(): Promise<RedisServerPolicy[]> {
      let nodes: Redis[] = [client as Redis];
      if (client.isCluster) {
        const cluster = client as Cluster;
        // The masters are known once the Cluster has loaded its slots.
        if (cluster.nodes("master").length === 0) await bounded("checkServer", cluster.cluster("SLOTS"));
        nodes = cluster.nodes("master");
      }
      const found = await Promise.all(nodes.map(policyOf));
      const evicting = found.filter(
        (f) => f.maxmemoryPolicy !== undefined && f.maxmemoryPolicy !== "noeviction",
      );
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
    },

    async claim(key: string, claim: ClaimRequest): Promise<ClaimResult> {
      checkDuration("claim", "leaseMs", claim.leaseMs, true);
      checkDuration("claim", "retentionMs", claim.retentionMs, false);
      const args = [claim.token, claim.fingerprint, ms(claim.leaseMs), ms(claim.retentionMs)];
      const reply = await run("claim", CLAIM, key, args);
      // Acquired: [fence, takeover] as integers. Not acquired: the live record as one string.
      if (Buffer.isBuffer(reply)) return { acquired: false, record: record("claim", key, reply) };
      if (Array.isArray(reply)) {
        const [fence, takeover] = reply;
        if (reply.length === 2 && typeof fence === "number" && typeof takeover === "number")
          return { acquired: true, fence, takeover: takeover === 1 };
      }
      throw new RedisStoreError("claim", `unexpected reply ${String(reply)}`);
    },

    async complete(key: string, token: string, outcome: CompleteRequest): Promise<boolean> {
      checkDuration("complete", "retentionMs", outcome.retentionMs, false);
      const { result } = outcome;
      const bytes = Buffer.from(result.buffer, result.byteOffset, result.byteLength);
      return (await run("complete", COMPLETE, key, [token, bytes, ms(outcome.retentionMs)])) === 1;
    },

    async release(key: string, token: string): Promise<boolean> {
      return (await run("release", RELEASE, key, [token])) === 1;
    },

    async extend(key: string, token: string, leaseMs: number): Promise<boolean> {
      checkDuration("extend", "leaseMs", leaseMs, true);
      return (await run("extend", EXTEND, key, [token, ms(leaseMs)])) === 1;
    },

    async get(key: string): Promise<IdempotencyRecord | undefined> {
      const reply = await run("get", GET, key, []);
      return Buffer.isBuffer(reply) ? record("get", key, reply) : undefined;
    },

    async delete(key: string): Promise<boolean> {
      return (await run("delete", DELETE, key, [])) === 1;
    },
  };
}

const OPTION_NAMES = ["client", "prefix", "commandTimeoutMs"];

/** The options, checked: each failure names the option and what it accepts (TypeError / RangeError). */
function checkOptions(options: RedisStoreOptions) {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `@idemkit/redis: createRedisStore needs an options object with \`client\`; got ${describe(options)}`,
    );
  }
  rejectUnknownOptions("createRedisStore", options, OPTION_NAMES);
  const client = options.client as unknown;
  if (
    typeof client !== "object" ||
    client === null ||
    typeof (client as Redis).sendCommand !== "function" ||
    typeof (client as Redis).options !== "object"
  ) {
    throw new TypeError(
      `@idemkit/redis: client must be an ioredis Redis or Cluster; got ${describe(client)}`,
    );
  }
  return {
    client: client as Redis | Cluster,
    prefix: stringOption("prefix", options.prefix) ?? "",
    // Node's timers hold up to 2^31 - 1 ms; a longer one would fire at once.
    timeoutMs: integerOption("commandTimeoutMs", options.commandTimeoutMs, 0, 2 ** 31 - 1) ?? 2000,
  };
}
