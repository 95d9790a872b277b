import type { AttributeValue } from "@aws-sdk/client-dynamodb";

/**
 * The conditional writes of the store, as DynamoDB expressions. Every attribute goes through a `#name`
 * (`ttl`, `until` and others are reserved words), and each call sends only the names and values its
 * expressions use, as DynamoDB requires.
 */
export interface Expressions {
  ConditionExpression: string;
  UpdateExpression?: string;
  ExpressionAttributeNames: Record<string, string>;
  ExpressionAttributeValues?: Record<string, AttributeValue>;
}

/**
 * Where a record may be claimed: no item, or a released one, or one past its deadline (lease or retention),
 * and then only an item the store can read (as `readItem` checks it), so a claim never writes over an item
 * of another shape: it loses, and reads the item to say what is wrong. DynamoDB cannot test that a number
 * is whole: a fence of 1.5 is caught only after the write (`claimedFence`).
 *
 * Nor over an item its own token released: tokens are one per attempt and core never claims again with a
 * token it released, so only a late copy of the request lands there (the SDK sent it again after a
 * timeout, and the first copy arrived after the owner's release); acquiring would make an owner nobody
 * is. A lease of its own token that ran out may be taken over: core's retry of a claim does that when its
 * first attempt's lease ended before the retry arrived.
 *
 * An empty outcome is binary too, but dynalite's `attribute_type` is false for any empty value: `#res =
 * :noBytes` accepts it on both, so the condition agrees with `readItem` and an expired empty outcome is
 * claimable again.
 */
const CLAIMABLE =
  "attribute_not_exists(#k) OR (attribute_type(#tok, :typeS) AND attribute_type(#fp, :typeS) " +
  "AND ((#st = :released AND #tok <> :tok) OR (#until <= :now AND #st IN (:in_progress, :completed))) " +
  "AND attribute_type(#fence, :typeN) AND #fence BETWEEN :one AND :maxFence " +
  "AND attribute_type(#until, :typeN) AND #until BETWEEN :minSafe AND :maxSafe " +
  "AND (#st <> :completed OR attribute_type(#res, :typeB) OR #res = :noBytes) " +
  "AND (#st <> :in_progress OR attribute_type(#rets, :typeN)))";
/** Where `token` owns a live lease. */
const OWNED = "#st = :in_progress AND #tok = :tok AND #until > :now";

export const claimWrite = {
  condition: CLAIMABLE,
  // The fence grows from whatever the item held (a released or expired record keeps its fence until the
  // TTL deletes it), and `prev` keeps the state it replaced: `in_progress` there means a takeover.
  update:
    "SET #st = :in_progress, #tok = :tok, #fp = :fp, #fence = if_not_exists(#fence, :zero) + :one, " +
    "#until = :until, #prev = if_not_exists(#st, :absent), #rets = :rets, #ttl = :ttl REMOVE #res",
};

/**
 * A completion: the TTL (keep-until) only ever moves later. Normally the claim's keep-until (lease end plus
 * retention) is already past the completion's, and the first form, which leaves the TTL, applies: one
 * write. Only a completion whose retention ends later sends the second form, which moves the TTL.
 */
export const completeWrite = {
  condition: `${OWNED} AND #ttl >= :ttl`,
  update: "SET #st = :completed, #res = :res, #until = :until",
  conditionMovingTtl: `${OWNED} AND (attribute_not_exists(#ttl) OR #ttl < :ttl)`,
  updateMovingTtl: "SET #st = :completed, #res = :res, #until = :until, #ttl = :ttl",
};

/** Release ends the lease at once and leaves the TTL (keep-until) and the fence as they are. */
export const releaseWrite = { condition: OWNED, update: "SET #st = :released" };

/** The TTL moves with the lease end: `rets` is the claim's retention in seconds. */
export const extendWrite = { condition: OWNED, update: "SET #until = :until, #ttl = #rets + :leaseEnd" };

/** The `#name` → attribute map and the `:value`s used by the given expressions, and nothing else. */
export function expressions(
  names: { key: string; ttl: string },
  condition: string,
  update: string | undefined,
  values: Record<string, AttributeValue>,
): Expressions {
  const text = `${condition} ${update ?? ""}`;
  const attributeNames: Record<string, string> = {};
  for (const [, name] of text.matchAll(/#(\w+)/g)) {
    if (name === undefined) continue;
    attributeNames[`#${name}`] = name === "k" ? names.key : name === "ttl" ? names.ttl : name;
  }
  const attributeValues: Record<string, AttributeValue> = {};
  for (const [placeholder] of text.matchAll(/:\w+/g)) {
    const value = values[placeholder] ?? CONSTANTS[placeholder];
    if (value === undefined) throw new Error(`@idemkit/dynamodb: no value for ${placeholder}`);
    attributeValues[placeholder] = value;
  }
  return {
    ConditionExpression: condition,
    ...(update === undefined ? {} : { UpdateExpression: update }),
    ExpressionAttributeNames: attributeNames,
    ...(Object.keys(attributeValues).length > 0 ? { ExpressionAttributeValues: attributeValues } : {}),
  };
}

const CONSTANTS: Record<string, AttributeValue> = {
  ":in_progress": { S: "in_progress" },
  ":completed": { S: "completed" },
  ":released": { S: "released" },
  ":absent": { S: "absent" },
  ":zero": { N: "0" },
  ":one": { N: "1" },
  ":typeN": { S: "N" },
  ":typeS": { S: "S" },
  ":typeB": { S: "B" },
  ":noBytes": { B: new Uint8Array(0) },
  // The fence a claim adds one to stays a safe integer; deadlines are safe integers.
  ":maxFence": { N: String(Number.MAX_SAFE_INTEGER - 1) },
  ":minSafe": { N: String(Number.MIN_SAFE_INTEGER) },
  ":maxSafe": { N: String(Number.MAX_SAFE_INTEGER) },
};

/** A number attribute. */
export const number = (value: number): AttributeValue => ({ N: String(value) });
/** Milliseconds as whole seconds, rounded up: a TTL is never earlier than the deadline it stands for. */
export const seconds = (ms: number): number => Math.ceil(ms / 1000);
