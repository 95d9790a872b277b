/*
 * Documented MongoDB semantics this store relies on (not yet checked against a server in this repo):
 * - findOneAndUpdate / findAndModify accept an aggregation pipeline as the update (server 4.2+),
 *   with `upsert` (the base document is built from the filter's equality, here `{ _id }`) and
 *   `returnDocument`; driver 6+ returns the document itself (`includeResultMetadata: false`).
 * - `$$NOW`: the current datetime, the same for all members and all stages of one operation (4.2+);
 *   usable in update pipelines and in `$expr` filters.
 * - `$add` of a date and numbers treats the numbers as milliseconds; `$subtract` of two dates is
 *   their difference in milliseconds; `$type` of an absent field
 *   is "missing"; `$literal` stops a `$`-string from being read as a field path.
 * - Concurrent upserts on a unique `_id` insert once; losers get E11000 (code 11000) and may retry,
 *   which then updates. Servers retry this themselves for exact-equality filters on the unique key
 *   (updates since 4.2, SERVER-14322/37124; findAndModify, SERVER-47212); we retry too, bounded.
 * - TTL index with `expireAfterSeconds: 0` on a Date field expires a document at that date; the
 *   TTL monitor runs every 60 s on the primary, so deletion is late.
 */
import { randomUUID } from "node:crypto";
import type {
  ClaimRequest,
  ClaimResult,
  CompleteRequest,
  IdempotencyRecord,
  IdempotencyStore,
  ListFilter,
  ListPage,
} from "@idemkit/core";
import { Binary, type Collection, type Db, type Document, type WriteConcernSettings } from "mongodb";
import { createLister } from "./list.js";
import { checkDuration, describe, rejectUnknownOptions, stringOption } from "./options.js";

/**
 * One stored key. `_id` is the key exactly as core produced it (any string; BSON strings are
 * length-prefixed, so unicode, quotes and NUL bytes are plain data). Long keys need no hashing on
 * MongoDB >= 4.2 (featureCompatibilityVersion >= 4.2), which removed the 1024-byte index key limit;
 * the only bound is the 16 MB document, which a key shares with the outcome bytes.
 */
export interface MongoIdempotencyDocument {
  _id: string;
  state: "in_progress" | "completed";
  token: string;
  fingerprint: string;
  fence: number;
  /** Lease end (in_progress) or retention end (completed), server clock. From then on: absent. */
  expiresAt: Date;
  /**
   * When the TTL monitor may delete the document: the claim's retentionMs past the lease end (extend
   * moves both), at least the retention end once completed. Keeps an expired record's fence.
   */
  keepUntil: Date;
  /**
   * When the claim that wrote the document acquired it, server clock (`list`'s `claimedAt`); kept by
   * complete, release and extend. A document without it (written by hand) is left out of listings.
   */
  claimedAt?: Date;
  /** Id of the claim call that wrote this in_progress document (see `claim`). */
  claimId?: string;
  /**
   * Set by the claim that wrote this in_progress document: `true` when it replaced an in_progress
   * document whose lease had run out without a release (see `claim`). Returned with the in_progress
   * record (`claim`, `get`), so a claim retried with the same token learns its own claim's takeover.
   * Unset by complete and release.
   */
  takeover?: boolean;
  /** Outcome bytes, completed only. */
  result?: Binary;
}

export type MongoStoreOptions = (
  | { collection: Collection<MongoIdempotencyDocument> | Collection<Document>; db?: never }
  | { db: Db; collectionName?: string; collection?: never }
) & {
  /**
   * Write concern of every write (claim, complete, release, extend, delete). Defaults to the
   * collection's. Use `{ w: "majority" }` on replica sets (see README). `w: 0` is rejected: the
   * store must read each write's result to tell a won race from a lost one.
   */
  writeConcern?: WriteConcernSettings;
};

export interface MongoStore extends IdempotencyStore {
  /** Creates the TTL index on `keepUntil` (idempotent). Run once at deploy or startup. */
  ensureIndexes(): Promise<void>;
  /** Live records, a page at a time, as summaries (see `IdempotencyStore.list`). */
  list(filter?: ListFilter): Promise<ListPage>;
  /** Resolves when the server answers a read of the collection (one that matches nothing). */
  ping(): Promise<void>;
  /** The collection the store writes to. */
  readonly collection: Collection<MongoIdempotencyDocument>;
}

export const DEFAULT_COLLECTION_NAME = "idempotency_keys";
export const TTL_INDEX_NAME = "idemkit_keep_until_ttl";
/** Consecutive E11000 replies after which a claim gives up (it then rejects: outcome unknown). */
export const MAX_DUPLICATE_KEY_ATTEMPTS = 5;

/** `$$NOW` is the server's clock, the same on every member for one operation (MongoDB >= 4.2). */
const NOW = "$$NOW";
/** Live means: deadline strictly in the future on the server's clock. */
export const LIVE = { $gt: ["$expiresAt", NOW] };
const lit = (value: unknown) => ({ $literal: value });
const after = (ms: number) => ({ $add: [NOW, Math.ceil(ms)] });
/** `expiresAt` of a released document: long past on every member's clock. */
const RELEASED = new Date(0);
/**
 * The fields that deadlines and fences are judged by have the types the store writes. A document
 * that fails it is not a record of ours (written by hand, by another program): the claim never
 * takes it over (BSON orders every string before every date, so a string `expiresAt` would
 * otherwise read as past, and the document be overwritten) and `get` returns it, so that both
 * fail the call instead of reading it as absent or live.
 */
export const WELL_FORMED = {
  $and: [
    { $eq: [{ $type: "$expiresAt" }, "date"] },
    { $in: [{ $type: "$fence" }, ["int", "long", "double"]] },
    { $in: ["$state", ["in_progress", "completed"]] },
  ],
};

/**
 * The claim as one update pipeline (MongoDB >= 4.2). If the document is missing, or its deadline
 * has passed (expired lease or ended retention), replace it with a fresh in_progress record whose
 * fence is one more than the kept one; otherwise keep it exactly as it is (`$$ROOT`).
 * The replacement records in `takeover` whether the document it replaced was an in_progress one
 * whose lease ran out (not released: release sets `expiresAt` to the epoch), judged from the
 * "before" document in the same atomic step; the after-document carries it back to `claim`.
 * Every caller-supplied string goes through `$literal`: in an aggregation expression a string
 * starting with `$` would otherwise be read as a field path.
 */
export function claimPipeline(claim: ClaimRequest, claimId: string): Document[] {
  const missing = (field: string) => ({ $eq: [{ $type: field }, "missing"] });
  // A new document (the upsert's `{ _id }`), or one of ours whose deadline has passed. Anything else
  // (a live record, or a document that is not a record of ours) is kept as it is, and `claim` reads
  // it: a live record is returned, anything else fails the call (`readDocument`).
  const claimable = {
    $or: [
      { $and: [missing("$expiresAt"), missing("$state"), missing("$fence")] },
      { $and: [WELL_FORMED, { $lte: ["$expiresAt", NOW] }] },
    ],
  };
  return [
    {
      // $cond in its array form: [if, then, else].
      $replaceWith: {
        $cond: [
          claimable,
          {
            _id: "$_id",
            state: lit("in_progress"),
            token: lit(claim.token),
            fingerprint: lit(claim.fingerprint),
            fence: { $add: [{ $ifNull: ["$fence", 0] }, 1] },
            expiresAt: after(claim.leaseMs),
            // Kept retentionMs past the lease end, however the two compare (store contract).
            keepUntil: after(claim.leaseMs + claim.retentionMs),
            claimedAt: NOW,
            claimId: lit(claimId),
            takeover: { $and: [{ $eq: ["$state", "in_progress"] }, { $gt: ["$expiresAt", RELEASED] }] },
          },
          "$$ROOT",
        ],
      },
    },
  ];
}

/** Filter of complete, release and extend: in_progress, owned by `token`, lease live. */
export function ownedFilter(key: string, token: string): Document {
  return { _id: key, state: "in_progress", token, $expr: LIVE };
}

/** Code 11000 (`DuplicateKey`): two upserts of one missing `_id` raced and this one lost the insert. */
export function isDuplicateKeyError(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const { code, codeName } = error as { code?: unknown; codeName?: unknown };
  return code === 11000 || codeName === "DuplicateKey";
}

/**
 * Outcome bytes as a fresh Uint8Array (a copy, never a Buffer), from a BSON Binary or, when the
 * client deserialises with `promoteBuffers`, a Buffer. A Binary's content is `buffer` up to
 * `position` (public fields in bson 5 to 7; `buffer` may be longer than the content).
 */
export function toBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return new Uint8Array(value);
  const binary = value as Partial<Binary> | undefined;
  if (binary?.buffer instanceof Uint8Array && typeof binary.position === "number") {
    return new Uint8Array(binary.buffer.subarray(0, binary.position));
  }
  throw new TypeError("idemkit/mongodb: stored result is not BSON binary data");
}

/** A BSON number as the driver hands it out: a JS number, or a wrapper with `promoteValues: false`. */
function bsonNumber(value: unknown): number {
  const wrapped = typeof value === "object" && value !== null && "_bsontype" in value;
  return typeof value === "number" || wrapped ? Number(value) : Number.NaN;
}

/**
 * Why a document read back cannot be a record (a field missing or of the wrong type: written by
 * hand, by another program, by a bug), or `undefined` when it can. Such a document is never read as
 * absent nor as live: the call fails, so core answers 503 for that key, and the rest keeps working.
 */
export function malformed(doc: Document): string | undefined {
  if (doc.state !== "in_progress" && doc.state !== "completed") return `state is ${describe(doc.state)}`;
  if (typeof doc.token !== "string") return `token is ${describe(doc.token)}, not a string`;
  if (typeof doc.fingerprint !== "string") return `fingerprint is ${describe(doc.fingerprint)}, not a string`;
  const fence = bsonNumber(doc.fence);
  if (!Number.isSafeInteger(fence) || fence < 1) return `fence is ${describe(doc.fence)}`;
  if (!(doc.expiresAt instanceof Date) || Number.isNaN(doc.expiresAt.getTime())) {
    return `expiresAt is ${describe(doc.expiresAt)}, not a date`;
  }
  if (doc.state === "completed" && !(doc.result instanceof Binary || doc.result instanceof Uint8Array)) {
    return `result is ${describe(doc.result)}, not binary data`;
  }
  if (doc.state === "in_progress" && doc.takeover !== undefined && typeof doc.takeover !== "boolean") {
    return `takeover is ${describe(doc.takeover)}`;
  }
  return undefined;
}

/** The document as a record, or a throw naming the key, what is wrong and the remedy (`malformed`). */
function readDocument(operation: string, doc: MongoIdempotencyDocument): IdempotencyRecord {
  const why = malformed(doc);
  if (why !== undefined) {
    throw new Error(
      `idemkit/mongodb: ${operation}: the document of key ${describe(doc._id)} is not an idemkit record ` +
        `(${why}); fix it, or remove it with store.delete(key)`,
    );
  }
  return toRecord(doc);
}

/** Maps a stored document to the contract's record. Numbers go through `Number` (promoteValues: false). */
export function toRecord(doc: MongoIdempotencyDocument): IdempotencyRecord {
  const base = { token: doc.token, fingerprint: doc.fingerprint, fence: Number(doc.fence) };
  const deadline = new Date(doc.expiresAt).getTime();
  return doc.state === "completed"
    ? { state: "completed", ...base, result: toBytes(doc.result), expiresAt: deadline }
    : { state: "in_progress", ...base, leaseExpiresAt: deadline, takeover: doc.takeover === true };
}

/**
 * A MongoDB store over the user's driver (`mongodb` 6 or 7, server >= 4.2). Every deadline is judged
 * by the server's `$$NOW`; every read treats an expired document as absent, since the TTL monitor
 * deletes only about once a minute.
 */
export function createMongoStore(options: MongoStoreOptions): MongoStore {
  const { collection, writeConcern } = checkOptions(options);
  const writeOptions = writeConcern ? { writeConcern } : {};

  return {
    collection,

    async claim(key: string, claim: ClaimRequest): Promise<ClaimResult> {
      checkDuration("claim", "leaseMs", claim.leaseMs, true);
      checkDuration("claim", "retentionMs", claim.retentionMs, false);
      // How acquisition is decided: the pipeline stamps a fresh `claimId` (one per call, not the
      // token) only when it takes the key, and the call returns the document *after* the update.
      // - took it: after.claimId === ours, and after.fence is the new fence;
      // - did not: the pipeline kept `$$ROOT`, so "after" is the live record exactly as it was
      //   before, read in the same atomic findAndModify. A claim retried by core with the same
      //   token (its first reply was lost) has a new claimId, so it reads as `acquired: false`
      //   with its own token, as the contract requires. A lost reply retried by the driver itself
      //   (retryable writes) gets the original result back from the server, so it still reads
      //   as acquired.
      // Deciding from the "before" document instead would need the server's $$NOW to tell an
      // expired record (taken over) from a live one (not taken), which the client does not have.
      const claimId = randomUUID();
      const pipeline = claimPipeline(claim, claimId);
      for (let attempt = 1; ; attempt++) {
        try {
          // Filter is exact equality on `_id` only, the shape for which servers retry an upsert's
          // duplicate-key insert themselves (update since 4.2; findAndModify: SERVER-47212).
          const doc = await collection.findOneAndUpdate({ _id: key }, pipeline, {
            upsert: true,
            returnDocument: "after",
            includeResultMetadata: false,
            ...writeOptions,
          });
          if (!doc) throw new Error("idemkit/mongodb: upsert returned no document");
          return doc.claimId === claimId
            ? { acquired: true, fence: Number(doc.fence), takeover: doc.takeover === true }
            : { acquired: false, record: readDocument("claim", doc) };
        } catch (error) {
          // Concurrent upserts of a missing key: one insert wins, the others get E11000 and wrote
          // nothing. Retrying finds the winner's document and answers with it. Only churn (the
          // key deleted and re-inserted between every attempt) exhausts the bound.
          if (!isDuplicateKeyError(error)) throw error;
          if (attempt >= MAX_DUPLICATE_KEY_ATTEMPTS) {
            throw new Error(`idemkit/mongodb: claim hit ${attempt} duplicate-key races in a row`, {
              cause: error,
            });
          }
        }
      }
    },

    async complete(key: string, token: string, outcome: CompleteRequest): Promise<boolean> {
      checkDuration("complete", "retentionMs", outcome.retentionMs, false);
      const update = [
        {
          $set: {
            state: lit("completed"),
            result: lit(new Binary(outcome.result)),
            expiresAt: after(outcome.retentionMs),
            // Never earlier than the claim promised: the fence is kept at least that long.
            keepUntil: { $max: ["$keepUntil", after(outcome.retentionMs)] },
          },
        },
        { $unset: ["claimId", "takeover"] },
      ];
      const res = await collection.updateOne(ownedFilter(key, token), update, writeOptions);
      return res.matchedCount === 1;
    },

    async release(key: string, token: string): Promise<boolean> {
      // Not a delete: the lease ends (expiresAt long past on any clock, so every $$NOW check reads the
      // document as absent and the next claim takes it over) but the document, and its fence, stay
      // until keepUntil. Deleting would let the next claim start again at fence 1.
      const update = [{ $set: { expiresAt: RELEASED } }, { $unset: ["claimId", "takeover"] }];
      const res = await collection.updateOne(ownedFilter(key, token), update, writeOptions);
      return res.matchedCount === 1;
    },

    async extend(key: string, token: string, leaseMs: number): Promise<boolean> {
      checkDuration("extend", "leaseMs", leaseMs, true);
      // keepUntil moves as far as the lease end (the expressions read the document before the stage):
      // it stays the claim's retentionMs past the new lease end.
      const update = [
        {
          $set: {
            expiresAt: after(leaseMs),
            keepUntil: { $add: ["$keepUntil", { $subtract: [after(leaseMs), "$expiresAt"] }] },
          },
        },
      ];
      const res = await collection.updateOne(ownedFilter(key, token), update, writeOptions);
      return res.matchedCount === 1;
    },

    async get(key: string): Promise<IdempotencyRecord | undefined> {
      // A live record, or a document that is no record of ours (it fails the call: readDocument).
      const filter = { _id: key, $expr: { $or: [LIVE, { $not: [WELL_FORMED] }] } };
      const doc = await collection.findOne(filter, { readPreference: "primary" });
      return doc ? readDocument("get", doc) : undefined;
    },

    async delete(key: string): Promise<boolean> {
      // Operator purge: the document goes, fence included (the next claim gets fence 1). Two conditional deletes, so that "was it live" is judged by the server's clock: first a
      // live record (-> true), else an expired leftover the TTL monitor has not reaped yet.
      const live = await collection.deleteOne({ _id: key, $expr: LIVE }, writeOptions);
      if (live.deletedCount === 1) return true;
      await collection.deleteOne({ _id: key, $expr: { $not: [LIVE] } }, writeOptions);
      return false;
    },

    list: createLister(collection),

    async ping(): Promise<void> {
      await collection.findOne({ _id: { $in: [] } }, { projection: { _id: 1 }, readPreference: "primary" });
    },

    async ensureIndexes(): Promise<void> {
      // expireAfterSeconds: 0 on a Date field: a document expires at the time in that field. The
      // monitor runs every 60 s, so deletion is late by up to a minute (reads never rely on it).
      await collection.createIndex({ keepUntil: 1 }, { name: TTL_INDEX_NAME, expireAfterSeconds: 0 });
    },
  };
}

const OPTION_NAMES = ["collection", "db", "collectionName", "writeConcern"];

/** The options, checked: each failure names the option and what it accepts (TypeError). */
function checkOptions(options: MongoStoreOptions): {
  collection: Collection<MongoIdempotencyDocument>;
  writeConcern: WriteConcernSettings | undefined;
} {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `idemkit/mongodb: createMongoStore needs an options object with \`collection\` or \`db\`; got ${describe(options)}`,
    );
  }
  rejectUnknownOptions("createMongoStore", options, OPTION_NAMES);
  const { db, collection } = options as { db?: unknown; collection?: unknown };
  const collectionName = stringOption(
    "collectionName",
    (options as { collectionName?: unknown }).collectionName,
  );
  if (collectionName === "") throw new TypeError("idemkit/mongodb: collectionName must not be empty");
  let chosen: unknown;
  if (db !== undefined) {
    if (collection !== undefined) throw new TypeError("idemkit/mongodb: pass `collection` or `db`, not both");
    if (typeof db !== "object" || db === null || typeof (db as Db).collection !== "function") {
      throw new TypeError(`idemkit/mongodb: db must be a driver Db; got ${describe(db)}`);
    }
    chosen = (db as Db).collection(collectionName ?? DEFAULT_COLLECTION_NAME);
  } else {
    if (collection === undefined) {
      throw new TypeError("idemkit/mongodb: pass `collection`, or `db` (and `collectionName`)");
    }
    if (collectionName !== undefined) {
      throw new TypeError("idemkit/mongodb: collectionName goes with `db`, not with `collection`");
    }
    chosen = collection;
  }
  if (
    typeof chosen !== "object" ||
    chosen === null ||
    typeof (chosen as Collection).findOneAndUpdate !== "function"
  ) {
    throw new TypeError(`idemkit/mongodb: collection must be a driver Collection; got ${describe(chosen)}`);
  }
  const { writeConcern } = options;
  if (writeConcern !== undefined && (typeof writeConcern !== "object" || writeConcern === null)) {
    throw new TypeError(`idemkit/mongodb: writeConcern must be an object; got ${describe(writeConcern)}`);
  }
  if (writeConcern?.w === 0)
    throw new TypeError("idemkit/mongodb: writeConcern w: 0 cannot report who won a claim");
  return { collection: chosen as Collection<MongoIdempotencyDocument>, writeConcern };
}
