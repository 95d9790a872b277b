/**
 * Unit tests without a server. They use a FAKE collection: a Map plus a tiny evaluator for the few
 * aggregation operators the store sends, written from the MongoDB docs by the author of the store.
 * They check what needs no server: the shape of filters, pipelines and options, duplicate-key retry,
 * option handling, byte conversion, and the claim decision logic as we read the documented semantics.
 *
 * They prove NOTHING about atomicity, concurrency or how a real mongod evaluates the pipeline: only
 * `conformance.test.ts`, run against a real server, can show that.
 */

import { createIdempotency } from "@idemkit/core";
import { Binary, BSON, type Collection, type Db, type Document } from "mongodb";
import { describe, expect, it, vi } from "vitest";
import {
  claimPipeline,
  createMongoStore,
  DEFAULT_COLLECTION_NAME,
  isDuplicateKeyError,
  MAX_DUPLICATE_KEY_ATTEMPTS,
  type MongoIdempotencyDocument,
  TTL_INDEX_NAME,
  toBytes,
  toRecord,
} from "./mongo-store.js";

type Doc = Record<string, unknown>;

const compare = (a: unknown, b: unknown): number => {
  // BSON's order across types, for what BSON.deserialize hands back: missing/null, numbers, strings,
  // objects, arrays, binary data, booleans, dates, then the rest (timestamps...).
  const rank = (v: unknown) =>
    v == null
      ? 0
      : typeof v === "number"
        ? 1
        : typeof v === "string"
          ? 2
          : v instanceof Date
            ? 7
            : typeof v === "boolean"
              ? 6
              : v instanceof Binary
                ? 5
                : Array.isArray(v)
                  ? 4
                  : (v as { _bsontype?: string })._bsontype === "Timestamp"
                    ? 8
                    : 3;
  if (rank(a) !== rank(b)) return rank(a) - rank(b);
  if (a == null) return 0;
  return Number(a) - Number(b);
};

function evaluate(expr: unknown, doc: Doc, now: number): unknown {
  if (typeof expr === "string" && expr.startsWith("$")) {
    if (expr === "$$NOW") return new Date(now);
    if (expr === "$$ROOT") return doc;
    return doc[expr.slice(1)];
  }
  if (Array.isArray(expr)) return expr.map((e) => evaluate(e, doc, now));
  if (expr === null || typeof expr !== "object" || expr instanceof Date || expr instanceof Binary)
    return expr;
  const entries = Object.entries(expr as Doc);
  const [op, arg] = entries[0] ?? [];
  if (entries.length !== 1 || !op?.startsWith("$")) {
    return Object.fromEntries(entries.map(([k, v]) => [k, evaluate(v, doc, now)]));
  }
  if (op === "$literal") return arg;
  if (op === "$cond") {
    const [condition, ifTrue, ifFalse] = arg as unknown[];
    return evaluate(evaluate(condition, doc, now) ? ifTrue : ifFalse, doc, now);
  }
  if (op === "$type") {
    // BSON's type names for what BSON.deserialize hands back.
    const value = evaluate(arg, doc, now);
    if (value === undefined) return "missing";
    if (value === null) return "null";
    if (value instanceof Date) return "date";
    if (value instanceof Binary) return "binData";
    if (typeof value === "number") return Number.isInteger(value) ? "int" : "double";
    if (typeof value === "boolean") return "bool";
    if (Array.isArray(value)) return "array";
    return typeof value === "string" ? "string" : "object";
  }
  const args = evaluate(arg, doc, now) as unknown[];
  switch (op) {
    case "$or":
      return args.some(Boolean);
    case "$in":
      return (args[1] as unknown[]).includes(args[0]);
    case "$and":
      return args.every(Boolean);
    case "$not":
      return !args[0];
    case "$eq":
      return args[0] === args[1];
    case "$gt":
      return compare(args[0], args[1]) > 0;
    case "$lte":
      return compare(args[0], args[1]) <= 0;
    case "$ifNull":
      return args[0] ?? args[1];
    case "$max":
      return args.reduce((m, v) => (compare(v, m) > 0 ? v : m));
    case "$subtract": {
      const difference = Number(args[0]) - Number(args[1]);
      return args[0] instanceof Date && !(args[1] instanceof Date) ? new Date(difference) : difference;
    }
    case "$add": {
      const total = args.reduce<number>((sum, v) => sum + Number(v), 0);
      return args.some((v) => v instanceof Date) ? new Date(total) : total;
    }
    default:
      throw new Error(`fake evaluator: unsupported ${op}`);
  }
}

/** A fake collection over a Map; every stored document goes through real BSON serialisation. */
function fakeCollection(clock: { now: number }) {
  const docs = new Map<string, Doc>();
  const roundTrip = (doc: Doc) => BSON.deserialize(BSON.serialize(doc)) as Doc;
  const matches = (doc: Doc | undefined, filter: Doc) =>
    doc !== undefined &&
    Object.entries(filter).every(([k, v]) => (k === "$expr" ? evaluate(v, doc, clock.now) : doc[k] === v));
  const apply = (doc: Doc, pipeline: Doc[]) => {
    let current = doc;
    for (const stage of pipeline) {
      if (stage.$replaceWith) current = evaluate(stage.$replaceWith, current, clock.now) as Doc;
      else if (stage.$set) current = { ...current, ...(evaluate(stage.$set, current, clock.now) as Doc) };
      else if (stage.$unset) {
        const unset = ([] as unknown[]).concat(stage.$unset);
        current = Object.fromEntries(Object.entries(current).filter(([k]) => !unset.includes(k)));
      }
    }
    return roundTrip(current);
  };
  const collection = {
    findOneAndUpdate: vi.fn(async (filter: Doc, pipeline: Doc[], _options: Doc) => {
      const key = filter._id as string;
      const next = apply(docs.get(key) ?? { _id: key }, pipeline);
      docs.set(key, next);
      return next;
    }),
    updateOne: vi.fn(async (filter: Doc, pipeline: Doc[], _options: Doc) => {
      const doc = docs.get(filter._id as string);
      if (!matches(doc, filter)) return { matchedCount: 0, modifiedCount: 0 };
      docs.set(filter._id as string, apply(doc!, pipeline));
      return { matchedCount: 1, modifiedCount: 1 };
    }),
    deleteOne: vi.fn(async (filter: Doc, _options: Doc) => {
      if (!matches(docs.get(filter._id as string), filter)) return { deletedCount: 0 };
      docs.delete(filter._id as string);
      return { deletedCount: 1 };
    }),
    findOne: vi.fn(async (filter: Doc, _options: Doc) => {
      const doc = docs.get(filter._id as string);
      return matches(doc, filter) ? doc : null;
    }),
    createIndex: vi.fn(async (_spec: Doc, _options: Doc) => TTL_INDEX_NAME),
  };
  return { docs, collection, asCollection: collection as unknown as Collection<MongoIdempotencyDocument> };
}

const claimOf = (token: string, fingerprint = "fp") => ({
  token,
  fingerprint,
  leaseMs: 1000,
  retentionMs: 60_000,
});
const bytes = (text: string) => new TextEncoder().encode(text);

function setup(writeConcern?: { w: number | "majority" }) {
  const clock = { now: Date.UTC(2030, 0, 1) };
  const fake = fakeCollection(clock);
  const store = createMongoStore({ collection: fake.asCollection, writeConcern });
  return { clock, store, ...fake };
}

describe("what the store sends", () => {
  it("claims with one findOneAndUpdate: exact _id filter, pipeline, upsert, document after", async () => {
    const { store, collection } = setup({ w: "majority" });
    await store.claim("k", claimOf("t1"));
    expect(collection.findOneAndUpdate).toHaveBeenCalledTimes(1);
    const [filter, pipeline, options] = collection.findOneAndUpdate.mock.calls[0]!;
    expect(filter).toEqual({ _id: "k" });
    expect(Array.isArray(pipeline)).toBe(true);
    expect(options).toEqual({
      upsert: true,
      returnDocument: "after",
      includeResultMetadata: false,
      writeConcern: { w: "majority" },
    });
  });

  it("judges deadlines with $$NOW and wraps every caller string in $literal", () => {
    const [stage] = claimPipeline(
      { token: "$token", fingerprint: "$$ROOT", leaseMs: 10, retentionMs: 20 },
      "$id",
    );
    const text = JSON.stringify(stage);
    const [, taken, kept] = stage!.$replaceWith.$cond;
    expect(text).toContain('"$$NOW"');
    expect(taken.token).toEqual({ $literal: "$token" });
    expect(taken.fingerprint).toEqual({ $literal: "$$ROOT" });
    expect(taken.claimId).toEqual({ $literal: "$id" });
    expect(kept).toBe("$$ROOT");
    // Kept the retention past the lease end: lease + retention from now.
    expect(taken.keepUntil).toEqual({ $add: ["$$NOW", 30] });
  });

  it("filters complete, release and extend on token, state and a live lease ($expr with $$NOW)", async () => {
    const { store, collection } = setup();
    await store.complete("k", "t", { result: bytes("x"), retentionMs: 5 });
    await store.release("k", "t");
    await store.extend("k", "t", 5);
    const expected = { _id: "k", state: "in_progress", token: "t", $expr: { $gt: ["$expiresAt", "$$NOW"] } };
    expect(collection.updateOne.mock.calls[0]![0]).toEqual(expected);
    expect(collection.updateOne.mock.calls[1]![0]).toEqual(expected);
    expect(collection.updateOne.mock.calls[2]![0]).toEqual(expected);
    expect(collection.deleteOne).not.toHaveBeenCalled();
  });

  it("reads only live documents (or ones that are no record of ours, to refuse them), from the primary", async () => {
    const { store, collection } = setup();
    await store.get("k");
    const [filter, options] = collection.findOne.mock.calls[0]!;
    expect(filter).toMatchObject({
      _id: "k",
      $expr: { $or: [{ $gt: ["$expiresAt", "$$NOW"] }, { $not: [{}] }] },
    });
    expect(options).toEqual({ readPreference: "primary" });
  });

  it("passes the write concern to every write and none when not configured", async () => {
    const withWc = setup({ w: "majority" });
    await withWc.store.release("k", "t");
    await withWc.store.delete("k");
    for (const call of withWc.collection.deleteOne.mock.calls)
      expect(call[1]).toEqual({ writeConcern: { w: "majority" } });
    expect(withWc.collection.updateOne.mock.calls[0]![2]).toEqual({ writeConcern: { w: "majority" } });
    const without = setup();
    await without.store.extend("k", "t", 5);
    expect(without.collection.updateOne.mock.calls[0]![2]).toEqual({});
  });
});

describe("claim decision, complete, extend, release against the fake", () => {
  it("fresh claim acquires fence 1; a second claim and a same-token retry read the live record", async () => {
    const { store } = setup();
    expect(await store.claim("k", claimOf("t1", "fp1"))).toEqual({
      acquired: true,
      fence: 1,
      takeover: false,
    });
    const other = await store.claim("k", claimOf("t2", "fp2"));
    expect(other).toMatchObject({
      acquired: false,
      record: { state: "in_progress", token: "t1", fingerprint: "fp1" },
    });
    const retried = await store.claim("k", claimOf("t1", "fp1"));
    expect(retried).toMatchObject({ acquired: false, record: { token: "t1", fence: 1, takeover: false } });
  });

  it("release keeps the document and its fence (next claim gets fence 2); delete forgets it", async () => {
    const { store, docs } = setup();
    await store.claim("k", claimOf("t1"));
    const keep = (docs.get("k")!.keepUntil as Date).getTime();
    expect(await store.release("k", "t1")).toBe(true);
    expect(await store.get("k")).toBeUndefined();
    expect(docs.get("k")).toMatchObject({ fence: 1, expiresAt: new Date(0) });
    expect((docs.get("k")!.keepUntil as Date).getTime()).toBe(keep);
    expect(await store.release("k", "t1")).toBe(false);
    expect(await store.claim("k", claimOf("t2"))).toEqual({ acquired: true, fence: 2, takeover: false });
    expect(await store.release("k", "t2")).toBe(true);
    expect(await store.claim("k", claimOf("t3"))).toEqual({ acquired: true, fence: 3, takeover: false });
    expect(await store.delete("k")).toBe(true);
    expect(await store.claim("k", claimOf("t4"))).toEqual({ acquired: true, fence: 1, takeover: false });
  });

  it("takeover is judged from the replaced document: an expired lease, not a release or a retention end", async () => {
    const { store, clock, docs } = setup();
    expect(await store.claim("k", claimOf("t1"))).toEqual({ acquired: true, fence: 1, takeover: false });
    expect(await store.release("k", "t1")).toBe(true);
    expect(docs.get("k")).not.toHaveProperty("takeover");
    expect(await store.claim("k", claimOf("t2"))).toEqual({ acquired: true, fence: 2, takeover: false });
    clock.now += 1000; // t2's lease runs out unreleased
    expect(await store.claim("k", claimOf("t3"))).toEqual({ acquired: true, fence: 3, takeover: true });
    expect(docs.get("k")).toMatchObject({ token: "t3", takeover: true });
    // Its reply lost, a retry with the same token reads the flag back with its own record.
    const retried = await store.claim("k", claimOf("t3"));
    expect(retried).toMatchObject({ acquired: false, record: { token: "t3", fence: 3, takeover: true } });
    expect(await store.get("k")).toMatchObject({ token: "t3", takeover: true });
    // A claim that takes nothing keeps the document as it was, flag included, and reads as not acquired.
    expect(await store.claim("k", claimOf("t4"))).toMatchObject({ acquired: false, record: { token: "t3" } });
    expect(await store.complete("k", "t3", { result: bytes("x"), retentionMs: 10 })).toBe(true);
    clock.now += 1000; // retention over
    expect(await store.claim("k", claimOf("t5"))).toEqual({ acquired: true, fence: 4, takeover: false });
  });

  it("complete never moves keepUntil earlier than the claim set it", async () => {
    const { store, docs } = setup();
    await store.claim("k", claimOf("t1"));
    const keep = (docs.get("k")!.keepUntil as Date).getTime();
    expect(await store.complete("k", "t1", { result: bytes("x"), retentionMs: 10 })).toBe(true);
    expect((docs.get("k")!.keepUntil as Date).getTime()).toBe(keep);
  });

  it("an expired lease is taken over with fence + 1; the stale token then loses", async () => {
    const { store, clock } = setup();
    await store.claim("k", claimOf("old"));
    clock.now += 1000; // deadline reached: expiresAt <= $$NOW
    expect(await store.get("k")).toBeUndefined();
    expect(await store.complete("k", "old", { result: bytes("x"), retentionMs: 5000 })).toBe(false);
    expect(await store.claim("k", claimOf("new"))).toEqual({ acquired: true, fence: 2, takeover: true });
    expect(await store.extend("k", "old", 5000)).toBe(false);
    expect(await store.release("k", "old")).toBe(false);
  });

  it("complete stores exact bytes and drops claimId; retention end frees the key and drops the result", async () => {
    const { store, clock, docs } = setup();
    await store.claim("k", claimOf("t"));
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(await store.complete("k", "t", { result: all, retentionMs: 5000 })).toBe(true);
    expect(docs.get("k")).not.toHaveProperty("claimId");
    expect(docs.get("k")).not.toHaveProperty("takeover");
    const replay = await store.claim("k", claimOf("t2"));
    expect(replay.acquired).toBe(false);
    if (replay.acquired || replay.record.state !== "completed") throw new Error("expected completed");
    expect(Array.from(replay.record.result)).toEqual(Array.from(all));
    expect(await store.complete("k", "t", { result: bytes("again"), retentionMs: 5000 })).toBe(false);
    clock.now += 5000;
    expect(await store.claim("k", claimOf("t3"))).toEqual({ acquired: true, fence: 2, takeover: false });
    expect(docs.get("k")).not.toHaveProperty("result");
  });

  it("extend pushes the lease and moves keepUntil as far: still the retention past the lease end", async () => {
    const { store, clock, docs } = setup();
    await store.claim("k", claimOf("t"));
    const keep = (docs.get("k")!.keepUntil as Date).getTime();
    clock.now += 900;
    expect(await store.extend("k", "t", 1000)).toBe(true);
    expect((docs.get("k")!.expiresAt as Date).getTime()).toBe(clock.now + 1000);
    expect((docs.get("k")!.keepUntil as Date).getTime()).toBe(keep + 900);
    expect((docs.get("k")!.keepUntil as Date).getTime()).toBe(clock.now + 1000 + 60_000);
    clock.now += 500;
    expect(await store.get("k")).toMatchObject({ state: "in_progress", token: "t" });
  });

  it("retention shorter than the lease (retention 60 s, lease 5 min): kept 60 s past the lease end, extended or not", async () => {
    const { store, clock, docs } = setup();
    const claim = { token: "t", fingerprint: "fp", leaseMs: 300_000, retentionMs: 60_000 };
    expect(await store.claim("k", claim)).toEqual({ acquired: true, fence: 1, takeover: false });
    expect((docs.get("k")!.keepUntil as Date).getTime()).toBe(clock.now + 360_000);
    clock.now += 200_000;
    expect(await store.extend("k", "t", 300_000)).toBe(true);
    const leaseEnd = clock.now + 300_000;
    expect((docs.get("k")!.keepUntil as Date).getTime()).toBe(leaseEnd + 60_000);
    // The TTL monitor deletes at keepUntil, not before: at the lease end + 59 s it is still there.
    clock.now = leaseEnd + 59_000;
    expect(await store.claim("k", { ...claim, token: "t2" })).toEqual({
      acquired: true,
      fence: 2,
      takeover: true,
    });
  });

  it("delete reports true only for a live record, and also purges an expired leftover", async () => {
    const { store, clock, docs } = setup();
    await store.claim("k", claimOf("t"));
    expect(await store.delete("k")).toBe(true);
    await store.claim("k", claimOf("t"));
    clock.now += 1000;
    expect(await store.delete("k")).toBe(false);
    expect(docs.has("k")).toBe(false);
  });
});

describe("duplicate-key race (E11000)", () => {
  const duplicate = Object.assign(new Error("E11000 duplicate key error collection: t.c index: _id_"), {
    code: 11000,
    codeName: "DuplicateKey",
  });

  it("retries the same claim and answers with the winner's record", async () => {
    const { store, collection } = setup();
    await store.claim("k", claimOf("winner"));
    collection.findOneAndUpdate.mockRejectedValueOnce(duplicate);
    const result = await store.claim("k", claimOf("loser"));
    expect(result).toMatchObject({ acquired: false, record: { token: "winner" } });
    const calls = collection.findOneAndUpdate.mock.calls;
    expect(calls).toHaveLength(3);
    expect(calls[2]).toEqual(calls[1]);
  });

  it("gives up after a bounded number of consecutive duplicates, with the cause", async () => {
    const { store, collection } = setup();
    collection.findOneAndUpdate.mockRejectedValue(duplicate);
    const failure = store.claim("k", claimOf("t"));
    await expect(failure).rejects.toThrow(/duplicate-key/);
    await expect(failure).rejects.toHaveProperty("cause", duplicate);
    expect(collection.findOneAndUpdate).toHaveBeenCalledTimes(MAX_DUPLICATE_KEY_ATTEMPTS);
  });

  it("does not retry other errors", async () => {
    const { store, collection } = setup();
    const down = Object.assign(new Error("connection closed"), { code: 6 });
    collection.findOneAndUpdate.mockRejectedValue(down);
    await expect(store.claim("k", claimOf("t"))).rejects.toBe(down);
    expect(collection.findOneAndUpdate).toHaveBeenCalledTimes(1);
  });

  it("recognises duplicate-key errors by code or code name only", () => {
    expect(isDuplicateKeyError({ code: 11000 })).toBe(true);
    expect(isDuplicateKeyError({ codeName: "DuplicateKey" })).toBe(true);
    expect(isDuplicateKeyError({ code: 112, codeName: "WriteConflict" })).toBe(false);
    expect(isDuplicateKeyError(new Error("E11000 in a message only"))).toBe(false);
    expect(isDuplicateKeyError(undefined)).toBe(false);
  });
});

describe("options", () => {
  it("takes a Db and a collection name, defaulting the name", () => {
    const names: string[] = [];
    const db = {
      collection: (name: string) => {
        names.push(name);
        return { findOneAndUpdate() {} };
      },
    } as unknown as Db;
    createMongoStore({ db });
    createMongoStore({ db, collectionName: "keys" });
    expect(names).toEqual([DEFAULT_COLLECTION_NAME, "keys"]);
  });

  it("accepts a plain Collection<Document> from the user's driver", () => {
    const plain = { findOneAndUpdate() {} } as unknown as Collection<Document>;
    expect(createMongoStore({ collection: plain }).collection).toBe(plain);
  });

  it("rejects w: 0 and a missing collection", () => {
    const collection = { findOneAndUpdate() {} } as unknown as Collection<Document>;
    expect(() => createMongoStore({ collection, writeConcern: { w: 0 } })).toThrow(/w: 0/);
    expect(() => createMongoStore({} as never)).toThrow(/collection/);
  });

  it("ensureIndexes creates the TTL index on keepUntil with expireAfterSeconds 0", async () => {
    const { store, collection } = setup();
    await store.ensureIndexes();
    expect(collection.createIndex).toHaveBeenCalledWith(
      { keepUntil: 1 },
      { name: TTL_INDEX_NAME, expireAfterSeconds: 0 },
    );
  });
});

describe("bytes and records", () => {
  it("returns a Binary's content exactly, as a plain Uint8Array copy", () => {
    const binary = new Binary(Uint8Array.from([1, 2, 3]));
    binary.buffer = Uint8Array.from([1, 2, 3, 99, 99]); // buffer longer than the content
    const out = toBytes(binary);
    expect(out.constructor).toBe(Uint8Array);
    expect(Array.from(out)).toEqual([1, 2, 3]);
    out[0] = 7;
    expect(binary.buffer[0]).toBe(1);
  });

  it("round-trips empty, invalid UTF-8 and 1 MiB payloads through BSON", () => {
    for (const payload of [
      new Uint8Array(0),
      Uint8Array.from([0xff, 0xfe, 0, 0xc3, 0x28]),
      new Uint8Array(1 << 20).fill(0xa5),
    ]) {
      const doc = BSON.deserialize(BSON.serialize({ result: new Binary(payload) }));
      expect(Buffer.from(toBytes(doc.result)).equals(Buffer.from(payload))).toBe(true);
    }
  });

  it("accepts Buffers (promoteBuffers) and rejects non-binary results", () => {
    expect(toBytes(Buffer.from([4, 5])).constructor).toBe(Uint8Array);
    expect(() => toBytes("not bytes")).toThrow(TypeError);
  });

  it("maps documents to records, numbers through Number (promoteValues: false)", () => {
    const expiresAt = new Date(1_900_000_000_000);
    const base = { _id: "k", token: "t", fingerprint: "f", expiresAt, keepUntil: expiresAt };
    expect(
      toRecord({ ...base, state: "in_progress", fence: new BSON.Int32(3) as unknown as number }),
    ).toEqual({
      state: "in_progress",
      token: "t",
      fingerprint: "f",
      fence: 3,
      leaseExpiresAt: expiresAt.getTime(),
      takeover: false,
    });
    expect(toRecord({ ...base, state: "in_progress", fence: 2, takeover: true })).toMatchObject({
      state: "in_progress",
      takeover: true,
    });
    const completed = toRecord({ ...base, state: "completed", fence: 2, result: new Binary(bytes("ok")) });
    expect(completed).toMatchObject({ state: "completed", fence: 2, expiresAt: expiresAt.getTime() });
  });
});

describe("a document the store cannot read (issue 13, item 2)", () => {
  const far = new Date(Date.UTC(2030, 0, 2));
  const record = {
    state: "in_progress",
    token: "owner",
    fingerprint: "fp",
    fence: 1,
    expiresAt: far,
    keepUntil: far,
    takeover: false,
  };
  const cases: [string, Doc][] = [
    [
      "expiresAt as a string (BSON sorts it before every date: it read as past)",
      { ...record, expiresAt: "2030-01-02" },
    ],
    ["expiresAt missing", { ...record, expiresAt: undefined }],
    [
      "expiresAt a timestamp (after every date: live for ever)",
      { ...record, expiresAt: new BSON.Timestamp({ t: 1, i: 1 }) },
    ],
    ["fence a string, live", { ...record, fence: "1" }],
    ["fence a string, expired", { ...record, fence: "1", expiresAt: new Date(0) }],
    ["fence 0", { ...record, fence: 0 }],
    ["token a number", { ...record, token: 42 }],
    ["another state", { ...record, state: "done" }],
    ["takeover a string", { ...record, takeover: "yes" }],
    ["completed without a result", { ...record, state: "completed" }],
    ["completed with a text result", { ...record, state: "completed", result: "ok" }],
    ["no fields at all but state", { state: "in_progress" }],
  ];

  it.each(cases)(
    "%s: claim and get reject naming the key; it is never overwritten; other keys work; delete clears it",
    async (_label, fields) => {
      const { store, docs } = setup();
      const stored = BSON.deserialize(
        BSON.serialize(
          Object.fromEntries(Object.entries({ _id: "bad", ...fields }).filter(([, v]) => v !== undefined)),
        ),
      );
      docs.set("bad", stored);
      await expect(store.claim("bad", claimOf("t1"))).rejects.toThrow(
        /claim: the document of key "bad" is not an idemkit record \(.+\); fix it, or remove it with store\.delete\(key\)/,
      );
      expect(docs.get("bad")).toEqual(stored);
      await expect(store.get("bad")).rejects.toThrow(
        /get: the document of key "bad" is not an idemkit record/,
      );
      expect(await store.complete("bad", "t1", { result: bytes("x"), retentionMs: 1000 })).toBe(false);
      expect(await store.claim("good", claimOf("t2"))).toEqual({ acquired: true, fence: 1, takeover: false });
      expect(typeof (await store.delete("bad"))).toBe("boolean");
      expect(docs.has("bad")).toBe(false);
      expect(await store.claim("bad", claimOf("t3"))).toEqual({ acquired: true, fence: 1, takeover: false });
    },
  );

  it("through core: that key is answered 503 with a store-error event, another key 201", async () => {
    const { store, docs } = setup();
    const events: string[] = [];
    const idem = createIdempotency({ store, scope: "global", onEvent: (event) => events.push(event.type) });
    const route = idem.wrap(async () => new Response("created", { status: 201 }));
    const post = (key: string) =>
      route(new Request("http://x/orders", { method: "POST", headers: { "idempotency-key": key } }));
    expect((await post("broken")).status).toBe(201);
    const [id] = [...docs.keys()].filter((k) => k.endsWith("broken"));
    docs.set(id!, { ...docs.get(id!)!, expiresAt: "soon" });
    expect((await post("broken")).status).toBe(503);
    expect(events).toContain("store-error");
    expect((await post("fine")).status).toBe(201);
  });
});

describe("options and durations are checked (issue 13, item 1)", () => {
  const collection = { findOneAndUpdate() {} } as unknown as Collection<Document>;
  const db = { collection: () => collection } as unknown as Db;

  it.each([
    [
      { collection, writeconcern: { w: 1 } },
      /unknown option "writeconcern" \(known: collection, collectionName, db, writeConcern\)/,
    ],
    [{ collection, db }, /pass `collection` or `db`, not both/],
    [{ collection, collectionName: "x" }, /collectionName goes with `db`/],
    [{ db, collectionName: "" }, /collectionName must not be empty/],
    [{ db, collectionName: 3 }, /collectionName must be a string; got 3/],
    [{ db: {} }, /db must be a driver Db; got an object/],
    [{ collection: db }, /collection must be a driver Collection; got an object/],
    [{ collection: "keys" }, /collection must be a driver Collection; got "keys"/],
    [{ collection, writeConcern: "majority" }, /writeConcern must be an object; got "majority"/],
    [{ collection, writeConcern: { w: 0 } }, /w: 0/],
  ])("%o is refused with a TypeError naming it", (options, message) => {
    expect(() => createMongoStore(options as never)).toThrow(TypeError);
    expect(() => createMongoStore(options as never)).toThrow(message);
  });

  it("needs an options object", () => {
    expect(() => createMongoStore(undefined as never)).toThrow(/needs an options object/);
  });

  it("every call checks its durations: past 4e15 ms (a date JavaScript cannot hold), or not a number, is a RangeError; nothing is sent", async () => {
    const { store, collection: fake } = setup();
    const claim = (leaseMs: number, retentionMs: number) =>
      store.claim("k", { token: "t", fingerprint: "fp", leaseMs, retentionMs });
    await expect(claim(1000, 1e16)).rejects.toThrow(
      "@idemkit/mongodb: claim: retentionMs must be a number of milliseconds from 0 up to 4000000000000000 (about 126,000 years); got 10000000000000000",
    );
    await expect(claim(1000, 1e16)).rejects.toBeInstanceOf(RangeError);
    await expect(claim(0, 1000)).rejects.toThrow(/claim: leaseMs/);
    await expect(claim(Number.NaN, 1000)).rejects.toThrow(/claim: leaseMs .* got NaN/);
    await expect(store.extend("k", "t", 4e15 + 1)).rejects.toThrow(/extend: leaseMs/);
    await expect(store.complete("k", "t", { result: bytes("x"), retentionMs: -1 })).rejects.toThrow(
      /complete: retentionMs/,
    );
    expect(fake.findOneAndUpdate).not.toHaveBeenCalled();
    expect(fake.updateOne).not.toHaveBeenCalled();
    expect(await claim(4e15, 4e15)).toEqual({ acquired: true, fence: 1, takeover: false });
  });
});
