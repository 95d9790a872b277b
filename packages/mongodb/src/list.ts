import {
  checkListFilter,
  decodeListCursor,
  encodeListCursor,
  type ListFilter,
  type ListPage,
  type RecordSummary,
} from "@idemkit/core";
import type { Collection, Document } from "mongodb";
import { LIVE, type MongoIdempotencyDocument, WELL_FORMED } from "./mongo-store.js";

const WHERE = "@idemkit/mongodb: list";

/** Where a listing goes on: after this `_id` (the key), in the `_id` index's order. */
const isPosition = (value: unknown): value is { after: string } =>
  typeof (value as { after?: unknown } | null)?.after === "string";

/**
 * The `$expr` of a listing, judged by `$$NOW`: a record of ours with its claim time (`WELL_FORMED`:
 * anything else is left out; `get` names it), live, and the filter's state, claim age and prefix. The prefix is compared as text
 * (`$substrCP` of the key, as many code points as the prefix has), never as a regular expression, and goes
 * through `$literal` (a string starting with `$` would read as a field path). `$and` stops at its first
 * false operand, so `$substrCP` only sees string keys.
 */
function matching(state: string | undefined, olderThanMs: number | undefined, prefix: string): Document {
  const conditions: Document[] = [WELL_FORMED, { $eq: [{ $type: "$claimedAt" }, "date"] }, LIVE];
  if (state !== undefined) conditions.push({ $eq: ["$state", { $literal: state }] });
  if (olderThanMs !== undefined) {
    conditions.push({ $lte: ["$claimedAt", { $subtract: ["$$NOW", Math.ceil(olderThanMs)] }] });
  }
  if (prefix !== "") {
    conditions.push(
      { $eq: [{ $type: "$_id" }, "string"] },
      { $eq: [{ $substrCP: ["$_id", 0, [...prefix].length] }, { $literal: prefix }] },
    );
  }
  return { $and: conditions };
}

/** The store's `list`: documents in `_id` order, `limit` + 1 read to know whether a page follows. */
export function createLister(collection: Collection<MongoIdempotencyDocument>) {
  return async function list(filter?: ListFilter): Promise<ListPage> {
    const { state, olderThanMs, prefix, limit, cursor } = checkListFilter(WHERE, filter);
    const after = cursor === undefined ? undefined : decodeListCursor(WHERE, cursor, isPosition).after;
    const docs = await collection
      .find(
        { ...(after !== undefined && { _id: { $gt: after } }), $expr: matching(state, olderThanMs, prefix) },
        {
          projection: { _id: 1, state: 1, fence: 1, claimedAt: 1, expiresAt: 1 },
          sort: { _id: 1 },
          limit: limit + 1,
          readPreference: "primary",
        },
      )
      .toArray();
    const page = docs.slice(0, limit);
    const records = page.map(
      (doc): RecordSummary => ({
        key: doc._id,
        state: doc.state,
        fence: Number(doc.fence),
        claimedAt: new Date(doc.claimedAt as Date).getTime(), // a date: the query asks for one
        expiresAt: new Date(doc.expiresAt).getTime(),
      }),
    );
    const last = page[page.length - 1];
    return docs.length > limit && last
      ? { records, cursor: encodeListCursor({ after: last._id }) }
      : { records };
  };
}
