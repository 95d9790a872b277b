import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import type { IdempotencyRecord } from "@idemkit/core";
import { decodeText, encodeText } from "./key.js";
import { describe } from "./options.js";

/** An item as the SDK reads and writes it. */
export type Item = Record<string, AttributeValue>;

/**
 * The store's own attributes (the partition key and the TTL attribute are named by the options):
 * - `st`: `in_progress`, `completed`, or `released` (a released record reads as absent, but keeps its fence);
 * - `tok`, `fp`: the owner token and the fingerprint (escaped as keys are: NUL and lone surrogates; the
 *   fingerprint after `FINGERPRINT_MARK`, so that an empty one is never an empty string: dynalite's
 *   conditions fail on an item holding one);
 * - `fence`: a number that only grows while the item exists;
 * - `until`: the lease end (in progress) or the retention end (completed), ms since the epoch;
 * - `prev`: the state the claim replaced (`in_progress` means it was a takeover), `absent` for a new key;
 * - `rets`: the claim's retention in whole seconds, rounded up, so `extend` can move the TTL with the lease;
 * - `res`: the outcome bytes (completed);
 * - `del`: the nonce of a `delete` under way (it deletes only the item it marked; see delete.ts).
 */
/** Leads every stored fingerprint (see `fp` above). */
export const FINGERPRINT_MARK = "f";

/** A fingerprint as the `fp` attribute holds it. */
export const storedFingerprint = (fingerprint: string) => FINGERPRINT_MARK + encodeText(fingerprint);

export const OWN_ATTRIBUTES = ["st", "tok", "fp", "fence", "until", "prev", "rets", "res", "del"] as const;

const SAFE_INTEGER = /^-?[0-9]{1,16}$/;

/** A DynamoDB number as a safe integer, or `undefined` when it is not one. */
function integer(value: AttributeValue | undefined): number | undefined {
  const text = value?.N;
  if (text === undefined || !SAFE_INTEGER.test(text)) return undefined;
  const number = Number(text);
  return Number.isSafeInteger(number) ? number : undefined;
}

/** The error of a call that read an item it cannot use: it names the key, what is wrong and the remedy. */
export function malformedItem(operation: string, key: string, why: string): Error {
  return new Error(
    `@idemkit/dynamodb: ${operation}: the item of key ${describe(key)} is not an idemkit record (${why}); ` +
      "fix it, or remove it with store.delete(key)",
  );
}

/** A stored item, checked: its state and fields, or why it cannot be a record (written by another program). */
type Parsed =
  | { ok: true; state: "in_progress" | "completed" | "released"; fence: number; until: number }
  | { ok: false; why: string };

function check(item: Item): Parsed {
  const state = item.st?.S;
  if (state !== "in_progress" && state !== "completed" && state !== "released") {
    return { ok: false, why: `st is ${describe(state ?? item.st)}` };
  }
  const fence = integer(item.fence);
  if (fence === undefined || fence < 1)
    return { ok: false, why: `fence is ${describe(item.fence?.N ?? item.fence)}` };
  const until = integer(item.until);
  if (until === undefined) return { ok: false, why: `until is ${describe(item.until?.N ?? item.until)}` };
  if (typeof item.tok?.S !== "string") return { ok: false, why: "tok is not a string" };
  if (typeof item.fp?.S !== "string" || !item.fp.S.startsWith(FINGERPRINT_MARK))
    return { ok: false, why: "fp is not a stored fingerprint" };
  if (state === "completed" && !(item.res?.B instanceof Uint8Array))
    return { ok: false, why: "res is not binary" };
  // `extend` computes the TTL from it: without it the owner could not renew its lease.
  if (state === "in_progress" && integer(item.rets) === undefined) {
    return { ok: false, why: "rets is not a whole number" };
  }
  return { ok: true, state, fence, until };
}

/**
 * The item as a record, `undefined` when it is released or past its deadline at `now` (whether or not
 * DynamoDB's TTL has deleted it yet: that lags by up to days), or a throw naming the key when the item
 * cannot be a record.
 */
export function readItem(
  operation: string,
  key: string,
  item: Item,
  now: number,
): IdempotencyRecord | undefined {
  const parsed = check(item);
  if (!parsed.ok) throw malformedItem(operation, key, parsed.why);
  if (parsed.state === "released" || parsed.until <= now) return undefined;
  const token = item.tok?.S ?? "";
  const fingerprint = decodeText((item.fp?.S ?? "").slice(FINGERPRINT_MARK.length));
  const { fence, until } = parsed;
  if (parsed.state === "completed") {
    // A copy of its own: the caller may change what it read.
    const result = new Uint8Array(item.res?.B ?? new Uint8Array(0));
    return { state: "completed", token, fingerprint, fence, result, expiresAt: until };
  }
  const takeover = item.prev?.S === "in_progress";
  return { state: "in_progress", token, fingerprint, fence, leaseExpiresAt: until, takeover };
}

/** `true` when the item is a record that is live at `now`; `false` for anything else, malformed included. */
export function isLive(item: Item | undefined, now: number): boolean {
  if (item === undefined) return false;
  const parsed = check(item);
  return parsed.ok && parsed.state !== "released" && parsed.until > now;
}

/** The fence of the item a claim just wrote, or a throw when it cannot be one. */
export function claimedFence(key: string, item: Item | undefined): number {
  const fence = integer(item?.fence);
  if (fence === undefined || fence < 1) {
    throw malformedItem("claim", key, `fence is ${describe(item?.fence?.N ?? item?.fence)}`);
  }
  return fence;
}
