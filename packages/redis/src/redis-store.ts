import {
  type ClaimRequest,
  type ClaimResult,
  type CompleteRequest,
  type IdempotencyRecord,
  type IdempotencyStore,
  type ListFilter,
  type ListPage,
  resultTextString,
} from "@idemkit/core";
import { checkServers, type RedisServerPolicy } from "./check-server.js";
import type { Argument, RedisClient, Reply } from "./clients.js";
import { RedisStoreError } from "./errors.js";
import { isKeptAside, LARGE_RECORD_BYTES, largeReads } from "./large-reads.js";
import { createLister } from "./list.js";
import { checkDuration, checkOptions } from "./options.js";
import { asidePieces, fitsAside, outcomeArgument } from "./outcome-argument.js";
import { outcomeKeyOf } from "./outcome-key.js";
import { scriptCalls } from "./script-calls.js";
import { CLAIM, COMPLETE, COMPLETE_ASIDE, DELETE, EXTEND, GET, PENDING_LIST, RELEASE } from "./scripts.js";

export interface RedisStoreOptions {
  /**
   * Your client: an ioredis `Redis` or `Cluster`, or a node-redis client or Cluster (`createClient`,
   * `createCluster` of `redis` or `@redis/client` 6), connected. The store never connects, quits or
   * reconfigures it. For a bounded failure while Redis is down, create it with ioredis's
   * `enableOfflineQueue: false` and a `commandTimeout`, or node-redis's `disableOfflineQueue: true`
   * (see the README).
   */
  client: RedisClient;
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
  /**
   * Live records, a page at a time, as summaries (see `IdempotencyStore.list`): `SCAN … MATCH` on the
   * client's server or every master of a Cluster, then one read of each key's header (not its outcome).
   * A page may hold fewer records than `limit`, even none, while its cursor goes on.
   */
  list(filter?: ListFilter): Promise<ListPage>;
  /** `PING` on the client's server, or on every master of a Cluster, within `commandTimeoutMs`. */
  ping(): Promise<void>;
}

// Whole milliseconds, rounded up: a lease or retention is never shortened by rounding.
const ms = (value: number) => String(Math.ceil(value));
const isOne = (reply: Reply) => reply === 1;
/**
 * How long a pending outcome (COMPLETE_ASIDE) is kept if its completion does not take it: they leave in
 * one write, so only a lost connection or a Cluster redirect between them, or a script that fails (sent
 * whole after NOSCRIPT past the deadline, refused by an ACL), leaves one behind, with this TTL
 * (PENDING_LIST).
 */
const PENDING_OUTCOME_MS = "60000";

/**
 * An idempotency store on Redis (standalone, Sentinel or Cluster) through ioredis or node-redis. Every
 * operation is one Lua script on one slot (a record's key, and its outcome key for a large outcome,
 * which a plain `RPUSHX` writes beside the completion), judged by Redis's clock; scripts run by SHA and are
 * re-sent whole when Redis has lost them (`NOSCRIPT` after `SCRIPT FLUSH`, a restart or a failover).
 */
export function createRedisStore(options: RedisStoreOptions): RedisStore {
  return createRedisStoreReading(options, LARGE_RECORD_BYTES);
}

/**
 * `createRedisStore`, keeping outcomes of `largeBytes` or more aside (scripts.ts) and reading first after
 * a live record that large or kept aside (large-reads.ts); tests vary it.
 */
export function createRedisStoreReading(options: RedisStoreOptions, largeBytes: number): RedisStore {
  const { connection, prefix, timeoutMs } = checkOptions(options);
  /** The keys of `key`'s record and outcome (the record's again where it keeps its outcome inline). */
  const keysOf = (key: string): [string, Argument] => {
    const record = prefix + key;
    return [record, outcomeKeyOf(connection.keyPrefixBytes, record) ?? record];
  };
  const { run, send, record, bounded, within, timedOut } = scriptCalls(connection, prefix, timeoutMs);

  /**
   * Acquired: [fence, takeover] as integers. Not acquired: the live record as one string, or [record,
   * outcome key's list] for a record whose outcome is kept aside.
   */
  function claimResult(key: string, reply: Reply): ClaimResult {
    if (Buffer.isBuffer(reply)) return { acquired: false, record: record("claim", key, reply) };
    if (isKeptAside(reply)) return { acquired: false, record: record("claim", key, reply[0], reply[1]) };
    if (Array.isArray(reply)) {
      const [fence, takeover] = reply;
      if (reply.length === 2 && typeof fence === "number" && typeof takeover === "number")
        return { acquired: true, fence, takeover: takeover === 1 };
    }
    throw new RedisStoreError("claim", `unexpected reply ${String(reply)}`);
  }

  const reads = largeReads({ connection, run, bounded }, largeBytes);

  /** The claim by its script; a live record it returns tells the reads whether to read first next time. */
  function claimByScript(key: string, args: string[], keys: Argument[]): Promise<ClaimResult> {
    return run("claim", CLAIM, key, args, keys).then((reply) => {
      const result = claimResult(key, reply);
      reads.met(reply);
      return result;
    });
  }

  /**
   * COMPLETE_ASIDE's reply, `pieces` (the outcome key's list, of an outcome of `bytes`) written first to a
   * pending key (the outcome key and the token: in its slot, and no other owner's), started with its TTL
   * by PENDING_LIST and filled by a plain `RPUSHX`, all in the same write. Their own failures show in the
   * script's -1.
   */
  function completeAside(
    key: string,
    token: string,
    pieces: Buffer[],
    bytes: number,
    retention: string,
    aside: Buffer,
  ): Promise<Reply> {
    const pending = Buffer.concat([aside, Buffer.from(`:${token}`)]);
    const [head, ...rest] = pieces as [Buffer, ...Buffer[]];
    const args = [token, retention, String(pieces.length), String(bytes)];
    let reply!: Promise<Reply>;
    connection.together(() => {
      // Sent whole, never by SHA: a NOSCRIPT answered after the RPUSHX would leave it nowhere to go.
      send("eval", PENDING_LIST.lua, [pending], [head, PENDING_OUTCOME_MS]).catch(() => {});
      // A client that throws instead of rejecting fails the same way.
      try {
        connection.appendList(pending, rest).catch(() => {});
      } catch {}
      reply = run("complete", COMPLETE_ASIDE, key, args, [prefix + key, pending, aside]);
    });
    return reply;
  }

  // claim and complete, on every new key's path, chain on `run` without an async function's extra
  // promise; a bad argument still rejects (never throws).
  const store: RedisStore = {
    checkServer: () => checkServers(connection, bounded),

    list: createLister({ connection, prefix, run, bounded }),

    async ping() {
      const servers = await bounded("ping", connection.servers());
      await Promise.all(servers.map((server) => bounded("ping", server.command(["PING"]))));
    },

    claim(key: string, claim: ClaimRequest): Promise<ClaimResult> {
      let args: string[];
      try {
        checkDuration("claim", "leaseMs", claim.leaseMs, true);
        checkDuration("claim", "retentionMs", claim.retentionMs, false);
        args = [claim.token, claim.fingerprint, ms(claim.leaseMs), ms(claim.retentionMs)];
      } catch (error) {
        return Promise.reject(error);
      }
      // The outcome key only where the script must be told it (scripts.ts, ASIDE_KEY).
      const keys = connection.cluster ? keysOf(key) : [prefix + key];
      if (reads.active) {
        return within("claim", (expired) =>
          reads.claim(
            key,
            keysOf(key),
            args,
            () => (expired() ? Promise.reject(timedOut("claim")) : claimByScript(key, args, keys)),
            (reply) => claimResult(key, reply),
          ),
        );
      }
      return claimByScript(key, args, keys);
    },

    complete(key: string, token: string, outcome: CompleteRequest): Promise<boolean> {
      try {
        checkDuration("complete", "retentionMs", outcome.retentionMs, false);
        // The outcome from core's result text (completesWithText, below), else the bytes: taken from the
        // text, a 64 KiB outcome is copied outside the heap once (asidePieces), not twice (core's bytes,
        // then their copy), which cost a new key at 1 in flight 3.6× the baseline's CPU (bench HISTORY,
        // thirty-first round).
        const text = outcome.resultText === undefined ? undefined : resultTextString(outcome.resultText);
        const result = text ?? outcome.result;
        const bytes = typeof result === "string" ? result.length : result.byteLength;
        const retention = ms(outcome.retentionMs);
        const inline = (value: Uint8Array | string) =>
          run("complete", COMPLETE, key, [token, outcomeArgument(value), retention]).then(isOne);
        const aside =
          bytes >= largeBytes && fitsAside(token, bytes)
            ? outcomeKeyOf(connection.keyPrefixBytes, prefix + key)
            : undefined;
        if (aside === undefined) return inline(result);
        const pieces = asidePieces(token, result);
        // Should the outcome go inline after all, it is the copy just made: the caller's memory may have
        // changed since the call (a reused buffer, another thread's write to shared memory).
        return within("complete", (expired) =>
          completeAside(key, token, pieces, bytes, retention, aside).then((reply) =>
            reply === -1
              ? expired()
                ? Promise.reject(timedOut("complete"))
                : inline(Buffer.concat(pieces.slice(1), bytes))
              : reply === 1,
          ),
        );
      } catch (error) {
        return Promise.reject(error);
      }
    },

    async release(key: string, token: string): Promise<boolean> {
      return (await run("release", RELEASE, key, [token])) === 1;
    },

    async extend(key: string, token: string, leaseMs: number): Promise<boolean> {
      checkDuration("extend", "leaseMs", leaseMs, true);
      return (await run("extend", EXTEND, key, [token, ms(leaseMs)])) === 1;
    },

    async get(key: string): Promise<IdempotencyRecord | undefined> {
      const reply = await run("get", GET, key, [], keysOf(key));
      if (Buffer.isBuffer(reply)) return record("get", key, reply);
      return isKeptAside(reply) ? record("get", key, reply[0], reply[1]) : undefined;
    },

    async delete(key: string): Promise<boolean> {
      return (await run("delete", DELETE, key, [], keysOf(key))) === 1;
    },
  };
  // Every call is bounded by the store's own timer (`within`), so core sets none. Not enumerable: a
  // copy (`{ ...store, claim }`) whose methods may not be bounded so does not inherit it.
  if (timeoutMs !== 0)
    Object.defineProperty(store, "settlesWithinMs", { value: timeoutMs, writable: true, configurable: true });
  // complete writes core's result text (resultTextString): its bytes are never built. Not
  // enumerable, as above: a copy whose complete reads `result` does not inherit it.
  return Object.defineProperty(store, "completesWithText", {
    value: true,
    writable: true,
    configurable: true,
  });
}
