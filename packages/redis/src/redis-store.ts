import type {
  ClaimRequest,
  ClaimResult,
  CompleteRequest,
  IdempotencyRecord,
  IdempotencyStore,
} from "@idemkit/core";
import { type Cluster, Command, type Redis } from "ioredis";
import { CLAIM, COMPLETE, DELETE, EXTEND, GET, RELEASE, type Script } from "./scripts.js";

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

type Reply = number | null | Buffer | (Buffer | number | null)[];

const isNoScript = (error: unknown) => error instanceof Error && error.message.startsWith("NOSCRIPT");
// Whole milliseconds, rounded up: a lease or retention is never shortened by rounding.
const ms = (value: number) => String(Math.ceil(value));

const COLON = 0x3a;
const MINUS = 0x2d;
const COMPLETED = 0x63; // "c"

/**
 * Decodes a record string (see scripts.ts): `<s><k><n>:<d>:<u>:<tl>:<fl>:<token><fingerprint><outcome>`.
 * The header is ASCII digits; token and fingerprint are UTF-8, sliced by their byte lengths.
 */
function decode(value: Buffer): IdempotencyRecord {
  const fields = [0, 0, 0, 0, 0]; // n, d, u, tl, fl
  let i = 2;
  for (let f = 0; f < 5; f++) {
    let x = 0;
    const negative = value[i] === MINUS;
    if (negative) i++;
    for (let c = value[i++]; c !== COLON; c = value[i++]) {
      if (c === undefined || c < 0x30 || c > 0x39) throw new RedisStoreError("decode", "malformed record");
      x = x * 10 + (c - 0x30);
    }
    fields[f] = negative ? -x : x;
  }
  const [fence, at, , tokenLength, fingerprintLength] = fields as [number, number, number, number, number];
  const fingerprintStart = i + tokenLength;
  const outcomeStart = fingerprintStart + fingerprintLength;
  const common = {
    token: value.toString("utf8", i, fingerprintStart),
    fingerprint: value.toString("utf8", fingerprintStart, outcomeStart),
    fence,
  };
  if (value[0] === COMPLETED) {
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
export function createRedisStore(options: RedisStoreOptions): IdempotencyStore {
  const { client } = options;
  const clientPrefix = (client.options as { keyPrefix?: string }).keyPrefix;
  const prefix = options.prefix ?? "";
  const timeoutMs = options.commandTimeoutMs ?? 2000;

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

  /** One promise and one timer per call: the timer rejects when Redis has not answered in time. */
  function run(operation: string, script: Script, key: string, args: (string | Buffer)[]): Promise<Reply> {
    const reply = send(script, key, args);
    if (!(timeoutMs > 0 && Number.isFinite(timeoutMs))) {
      return reply.catch((error: unknown) => {
        throw failure(operation, error);
      });
    }
    return new Promise<Reply>((resolve, reject) => {
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

  return {
    async claim(key: string, claim: ClaimRequest): Promise<ClaimResult> {
      const args = [claim.token, claim.fingerprint, ms(claim.leaseMs), ms(claim.retentionMs)];
      const reply = await run("claim", CLAIM, key, args);
      // Acquired: [fence, takeover] as integers. Not acquired: the live record as one string.
      if (Buffer.isBuffer(reply)) return { acquired: false, record: decode(reply) };
      if (Array.isArray(reply)) {
        const [fence, takeover] = reply;
        if (reply.length === 2 && typeof fence === "number" && typeof takeover === "number")
          return { acquired: true, fence, takeover: takeover === 1 };
      }
      throw new RedisStoreError("claim", `unexpected reply ${String(reply)}`);
    },

    async complete(key: string, token: string, outcome: CompleteRequest): Promise<boolean> {
      const { result } = outcome;
      const bytes = Buffer.from(result.buffer, result.byteOffset, result.byteLength);
      return (await run("complete", COMPLETE, key, [token, bytes, ms(outcome.retentionMs)])) === 1;
    },

    async release(key: string, token: string): Promise<boolean> {
      return (await run("release", RELEASE, key, [token])) === 1;
    },

    async extend(key: string, token: string, leaseMs: number): Promise<boolean> {
      return (await run("extend", EXTEND, key, [token, ms(leaseMs)])) === 1;
    },

    async get(key: string): Promise<IdempotencyRecord | undefined> {
      const reply = await run("get", GET, key, []);
      return Buffer.isBuffer(reply) ? decode(reply) : undefined;
    },

    async delete(key: string): Promise<boolean> {
      return (await run("delete", DELETE, key, [])) === 1;
    },
  };
}
