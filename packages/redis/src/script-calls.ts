// Each call of the Redis store: a script by SHA (re-sent whole when Redis lost it), bounded by the
// store's timeout, its failures as the store's errors.
import { CallDeadlines, type IdempotencyRecord } from "@idemkit/core";
import type { Argument, Connection, Reply } from "./clients.js";
import { RedisStoreError } from "./errors.js";
import { describe } from "./options.js";
import { type Aside, decode, Malformed } from "./record.js";
import { MALFORMED, type Script } from "./scripts.js";

const isNoScript = (error: unknown) => error instanceof Error && error.message.startsWith("NOSCRIPT");

/**
 * The calls of a store on `connection` whose keys start with `prefix`, each rejecting with a
 * `RedisStoreError` once `timeoutMs` has passed without a reply (never, when it is 0).
 */
export function scriptCalls(connection: Connection, prefix: string, timeoutMs: number) {
  // One timer for all the store's pending commands (they share the timeout), none when it is 0.
  const deadlines = timeoutMs === 0 ? undefined : new CallDeadlines(timeoutMs);

  const timedOut = (operation: string) =>
    new RedisStoreError(operation, `no reply from Redis within ${timeoutMs} ms`);
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

  /** What a call rejects with when Redis answered `error` (or did not answer). */
  function refusal(operation: string, key: string, error: unknown): RedisStoreError {
    const message = error instanceof Error ? error.message : "";
    if (!message.startsWith(MALFORMED)) return failure(operation, error);
    const why = message.slice(MALFORMED.length + 1).replace(/ script: .*/s, "");
    return malformed(operation, key, why, failure(operation, error));
  }

  /**
   * Runs `script` on `keys` (the record of `key` first): by SHA, re-sent whole when Redis has lost it
   * (`NOSCRIPT` after `SCRIPT FLUSH`, a restart or a failover). One promise and (unless disabled) one
   * deadline per call: it rejects when Redis has not answered within `timeoutMs`; past it nothing is
   * re-sent (an EVAL then would still write, unseen by the caller, who has its rejection).
   */
  function run(
    operation: string,
    script: Script,
    key: string,
    args: Argument[],
    keys: Argument[] = [prefix + key],
  ): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      let done = false;
      const deadline = deadlines?.start(() => {
        done = true;
        reject(timedOut(operation));
      });
      const answered = (reply: Reply) => {
        if (done) return; // a reply after the timeout settles nothing
        done = true;
        deadlines?.end(deadline);
        resolve(reply);
      };
      const failed = (error: unknown) => {
        if (done) return;
        done = true;
        deadlines?.end(deadline);
        reject(refusal(operation, key, error));
      };
      const sendWhole = (error: unknown) => {
        if (done || !isNoScript(error)) return failed(error);
        // The script cache was lost: EVAL runs it once and caches it again on that node.
        send("eval", script.lua, keys, args).then(answered, failed);
      };
      send("evalsha", script.sha, keys, args).then(answered, sendWhole);
    });
  }

  /** One command; a client that throws instead of rejecting fails the same way. */
  function send(kind: "evalsha" | "eval", body: string, keys: Argument[], args: Argument[]) {
    try {
      return connection.script(kind, body, keys, args);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * The record a script returned (with its outcome key's list), or the call's failure if it is not one
   * (`decode`).
   */
  function record(operation: string, key: string, value: Buffer, aside?: Aside): IdempotencyRecord {
    try {
      return decode(value, aside);
    } catch (error) {
      if (error instanceof Malformed) throw malformed(operation, key, `(${error.message})`);
      throw error;
    }
  }

  /** `reply`, or a rejection once `timeoutMs` has passed; its failure as the store's. */
  function bounded<T>(operation: string, reply: Promise<T>): Promise<T> {
    return within(operation, () =>
      reply.catch((error: unknown) => {
        throw failure(operation, error);
      }),
    );
  }

  /**
   * `start(expired)`'s promise, or a rejection once `timeoutMs` has passed since it started: one
   * deadline over calls made one after another (a read, then the claim script), so the whole stays
   * within the bound the store declares (`settlesWithinMs`). `expired()` says the caller has its
   * rejection: send nothing more. Rejections pass through as they are.
   */
  function within<T>(operation: string, start: (expired: () => boolean) => Promise<T>): Promise<T> {
    if (deadlines === undefined) return start(() => false);
    let expired = false;
    return new Promise<T>((resolve, reject) => {
      const deadline = deadlines.start(() => {
        expired = true;
        reject(timedOut(operation));
      });
      start(() => expired).then(
        (value) => {
          deadlines.end(deadline);
          resolve(value);
        },
        (error: unknown) => {
          deadlines.end(deadline);
          reject(error);
        },
      );
    });
  }
  return { run, send, record, bounded, within, timedOut };
}
