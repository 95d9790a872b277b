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

/** Where a record may be claimed: no item, a released one, or one past its deadline (lease or retention). */
const CLAIMABLE = "attribute_not_exists(#k) OR #st = :released OR #until <= :now";
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

export const completeWrite = {
  /** The TTL only ever moves later: this form applies when the completion's TTL is not earlier. */
  conditionMovingTtl: `${OWNED} AND (attribute_not_exists(#ttl) OR #ttl <= :ttl)`,
  updateMovingTtl: "SET #st = :completed, #res = :res, #until = :until, #ttl = :ttl",
  condition: OWNED,
  update: "SET #st = :completed, #res = :res, #until = :until",
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
};

/** A number attribute. */
export const number = (value: number): AttributeValue => ({ N: String(value) });
/** Milliseconds as whole seconds, rounded up: a TTL is never earlier than the deadline it stands for. */
export const seconds = (ms: number): number => Math.ceil(ms / 1000);
