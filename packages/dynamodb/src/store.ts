import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import type { ClaimResult, IdempotencyStore } from "@idemkit/core";
import { deleteItem } from "./delete.js";
import { lateClaim, OutcomeTooLargeError } from "./errors.js";
import { claimedFence, type Item, isLive, OWN_ATTRIBUTES, readItem, storedFingerprint } from "./item.js";
import { itemKey } from "./key.js";
import { checkDuration, checkStoreOptions, describe } from "./options.js";
import {
  claimWrite,
  completeWrite,
  expressions,
  extendWrite,
  number,
  releaseWrite,
  seconds,
} from "./writes.js";

export interface DynamoDbStoreOptions {
  /** Your `DynamoDBClient` from `@aws-sdk/client-dynamodb` (the store never destroys it). */
  client: DynamoDBClient;
  /** The table (see `createTable`): a string partition key and nothing else in its key schema. */
  table: string;
  /** The table's partition key attribute, a string (S). Default `pk`. */
  keyAttribute?: string;
  /** The table's TTL attribute: epoch seconds, when DynamoDB may delete the item. Default `ttl`. */
  ttlAttribute?: string;
  /**
   * How far ahead of the owner's clock another app server's clock may be, in milliseconds, without a
   * lease ending early there (an integer from 0 to 3600000; default 1000). Every lease end the store
   * writes is this much later than `leaseMs` asks; core still gives up its lease after `leaseMs`.
   */
  clockToleranceMs?: number;
  /** The wall clock every deadline is judged by, in ms since the epoch. Default `Date.now` (for tests). */
  now?: () => number;
}

/**
 * The outcome size that always fits in the 400 KB item (409,600 bytes) beside a key of the longest stored
 * form (2,048 bytes), core's default fingerprint (64), a token (up to 64) and the other attributes and
 * their names (under 200): 405,000 bytes. A longer fingerprint takes its bytes from the outcome.
 */
export const OUTCOME_BYTES_GUARANTEED = 405_000;
/** DynamoDB's item size limit: an outcome larger than this never fits, whatever else the item holds. */
const MAX_ITEM_BYTES = 409_600;

/** How often a lost claim reads the record again when the record it lost to is gone by the time it reads. */
const MAX_CLAIM_ROUNDS = 20;

const isConditionFailure = (error: unknown): error is ConditionalCheckFailedException =>
  error instanceof ConditionalCheckFailedException ||
  (error as { name?: unknown } | null)?.name === "ConditionalCheckFailedException";

/** The `:placeholder` values of an expression. */
type Values = Record<string, AttributeValue>;

/**
 * The SDK sent the write more than once (a timeout, a reset connection, a 5xx): an earlier attempt may have
 * been applied, and the condition then failed on its own result.
 */
const retriedOwnWrite = (error: { $metadata?: { attempts?: number } }) =>
  (error.$metadata?.attempts ?? 1) > 1;

/**
 * Whether `item` is exactly what this owner's write makes of it: the state it sets, the token, the
 * deadline (`:until`, to the millisecond) and, for a completion, the bytes. Only an earlier attempt of the
 * same call writes that.
 */
function landed(item: Item | undefined, token: string, values: Values) {
  if (item?.tok?.S !== token) return false;
  const until = values[":until"]?.N;
  const bytes = values[":res"]?.B;
  if (bytes !== undefined) {
    return (
      item.st?.S === "completed" && item.until?.N === until && Buffer.from(item.res?.B ?? []).equals(bytes)
    );
  }
  if (until !== undefined) return item.st?.S === "in_progress" && item.until?.N === until;
  return item.st?.S === "released";
}

const isValidationError = (error: unknown) =>
  (error as { name?: unknown } | null)?.name === "ValidationException";

/**
 * An idemkit store over a DynamoDB table: claim, complete, release and extend are each one conditional
 * `UpdateItem`. DynamoDB has no clock of its own to judge by, so deadlines are the application's wall clock
 * (`Date.now()`), with `clockToleranceMs` added to every lease end for skew between app servers.
 */
/** The DynamoDB store: the contract, and `ping` for health checks. */
export interface DynamoDbStore extends IdempotencyStore {
  /**
   * Resolves when the table answers a strongly consistent `GetItem` of a key the store never writes (the
   * store's own items start with `k:` or `h:`): the permission the store already needs, no `DescribeTable`.
   */
  ping(): Promise<void>;
}

/** The partition key `ping` reads: no item of the store has it (see `itemKey`). */
const PING_KEY = "idemkit:ping";

export function createDynamoDbStore(options: DynamoDbStoreOptions): DynamoDbStore {
  const checked = checkStoreOptions(options, OWN_ATTRIBUTES);
  const { table, keyAttribute, ttlAttribute, clockToleranceMs, now } = checked;
  const client = options.client;
  const names = { key: keyAttribute, ttl: ttlAttribute };
  const keyOf = (key: string) => ({ [keyAttribute]: { S: itemKey(key) } });

  /** The item as it is now, read strongly consistent (a lost condition's item, where DynamoDB did not return it). */
  async function currentItem(key: string): Promise<Item | undefined> {
    const read = await client.send(
      new GetItemCommand({ TableName: table, Key: keyOf(key), ConsistentRead: true }),
    );
    return read.Item;
  }

  /** The item a failed condition was judged on: DynamoDB returns it (ALL_OLD); an emulator may not. */
  const lostTo = async (key: string, error: ConditionalCheckFailedException) =>
    error.Item ?? (await currentItem(key));

  /** A write DynamoDB refused as invalid: if the item is not a record, say so (it is why); else the error. */
  async function explainInvalid(operation: string, key: string, error: unknown): Promise<never> {
    const item = isValidationError(error) ? await currentItem(key).catch(() => undefined) : undefined;
    if (item !== undefined) readItem(operation, key, item, 0);
    throw error;
  }

  /** One conditional UpdateItem: `written` (with the claim's new item), or `lost` with the condition's error. */
  async function update(
    operation: string,
    key: string,
    condition: string,
    updateExpression: string,
    values: Values,
  ): Promise<{ written: Item | undefined } | { lost: ConditionalCheckFailedException }> {
    try {
      const answer = await client.send(
        new UpdateItemCommand({
          TableName: table,
          Key: keyOf(key),
          ...expressions(names, condition, updateExpression, values),
          // The claim reads its fence and `prev` back; the others need nothing (a completion's bytes stay there).
          ReturnValues: operation === "claim" ? "ALL_NEW" : "NONE",
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        }),
      );
      return { written: answer.Attributes };
    } catch (error) {
      if (isConditionFailure(error)) return { lost: error };
      if (
        operation === "complete" &&
        isValidationError(error) &&
        /item size/i.test(String((error as Error).message))
      ) {
        throw new OutcomeTooLargeError(key, (values[":res"]?.B ?? new Uint8Array(0)).byteLength, error);
      }
      return explainInvalid(operation, key, error);
    }
  }

  /** Compare-and-set on the owner: `true` when `token` held a live lease and the write happened. */
  async function owned(
    operation: string,
    key: string,
    token: string,
    write: { condition: string; update: string },
    values: Values,
  ): Promise<boolean> {
    const all = { ...values, ":tok": { S: token } };
    const answer = await update(operation, key, write.condition, write.update, all);
    if ("written" in answer) return true;
    return retriedOwnWrite(answer.lost) && landed(await lostTo(key, answer.lost), token, all);
  }

  return {
    async claim(key, claim): Promise<ClaimResult> {
      checkDuration("claim", "leaseMs", claim.leaseMs, true);
      checkDuration("claim", "retentionMs", claim.retentionMs, false);
      for (let round = 0; round < MAX_CLAIM_ROUNDS; round++) {
        const at = now();
        const until = Math.ceil(at + claim.leaseMs + clockToleranceMs);
        const answer = await update("claim", key, claimWrite.condition, claimWrite.update, {
          ":now": number(at),
          ":tok": { S: claim.token },
          // Escaped as keys are, so NUL and lone surrogates survive the round trip.
          ":fp": { S: storedFingerprint(claim.fingerprint) },
          ":until": number(until),
          ":rets": number(seconds(claim.retentionMs)),
          ":ttl": number(seconds(until + claim.retentionMs)),
        });
        if ("written" in answer) {
          const fence = claimedFence(key, answer.written);
          return { acquired: true, fence, takeover: answer.written?.prev?.S === "in_progress" };
        }
        const item = await lostTo(key, answer.lost);
        // Judged at the claim's own `now`: the record the condition saw live (or, read later, still live).
        const record = item === undefined ? undefined : readItem("claim", key, item, at);
        if (record !== undefined) return { acquired: false, record };
        // Released by the owner this token made (writes.ts, CLAIMABLE): no live owner to report, and
        // none to become. Only a late copy of an answered claim gets here; core ignores its answer.
        if (item?.st?.S === "released" && item.tok?.S === claim.token) throw lateClaim(key);
        // Read after the fact, the record it lost to is gone (released, expired, deleted): claim again.
      }
      throw new Error(`@idemkit/dynamodb: claim: the item of key ${describe(key)} kept changing`);
    },

    async complete(key, token, outcome) {
      checkDuration("complete", "retentionMs", outcome.retentionMs, false);
      const at = now();
      const until = Math.ceil(at + outcome.retentionMs);
      const bytes = outcome.result;
      const values = {
        ":now": number(at),
        ":tok": { S: token },
        ":res": { B: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) },
        ":until": number(until),
        ":ttl": number(seconds(until)),
      };
      // Checked here: DynamoDB (and dynalite, with an UnknownError) would refuse it after sending 16 MiB.
      if (bytes.byteLength > MAX_ITEM_BYTES) throw new OutcomeTooLargeError(key, bytes.byteLength, undefined);
      const first = await update("complete", key, completeWrite.condition, completeWrite.update, values);
      if ("written" in first) return true;
      // Lost: to another owner, to this very write (its reply was lost and the SDK sent it again), or only
      // to the TTL test (this retention ends after the claim's keep-until). In the last case the owner
      // completes with the form that moves the TTL.
      const item = await lostTo(key, first.lost);
      if (retriedOwnWrite(first.lost) && landed(item, token, values)) return true;
      if (!isLive(item, at) || item?.st?.S !== "in_progress" || item.tok?.S !== token) return false;
      const moving = { condition: completeWrite.conditionMovingTtl, update: completeWrite.updateMovingTtl };
      return owned("complete", key, token, moving, values);
    },

    async release(key, token) {
      return owned("release", key, token, releaseWrite, { ":now": number(now()) });
    },

    async extend(key, token, leaseMs) {
      checkDuration("extend", "leaseMs", leaseMs, true);
      const at = now();
      const until = Math.ceil(at + leaseMs + clockToleranceMs);
      const values = { ":now": number(at), ":until": number(until), ":leaseEnd": number(seconds(until)) };
      return owned("extend", key, token, extendWrite, values);
    },

    async get(key) {
      const item = await currentItem(key);
      return item === undefined ? undefined : readItem("get", key, item, now());
    },

    delete: (key) => deleteItem({ client, table, names, now }, keyOf(key)),

    async ping() {
      const key = { [keyAttribute]: { S: PING_KEY } };
      await client.send(new GetItemCommand({ TableName: table, Key: key, ConsistentRead: true }));
    },
  };
}
