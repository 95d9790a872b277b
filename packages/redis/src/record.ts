import type { IdempotencyRecord } from "@idemkit/core";

const COLON = 0x3a;
const MINUS = 0x2d;
const COMPLETED = 0x63; // "c"
/** The state of a completed record whose outcome is kept aside (scripts.ts). */
export const ASIDE_STATE = 0x6c; // "l"
/** The first byte of an outcome key's first element (scripts.ts). */
export const OUTCOME_MARK = 0x6f; // "o"
const IN_PROGRESS = 0x70; // "p"

/** Why a value is not a record of ours (see `decode`), thrown as the failure of the call that read it. */
export class Malformed extends Error {}

/**
 * Decodes a record string (see scripts.ts): `<s><k><n>:<d>:<u>:<c>:<tl>:<fl>:<token><fingerprint><outcome>`,
 * with `aside`, the list at its outcome key, for an "l" record. The header is ASCII digits; token and
 * fingerprint are UTF-8, sliced by their byte lengths. A value that does not read exactly so (a state or
 * flag not ours, a number out of range, lengths that do not add up to the value's, an outcome kept aside
 * that is missing or not this owner's) throws `Malformed`: it is never handed to core as a record.
 */
export function decode(value: Buffer, aside?: Aside): IdempotencyRecord {
  const state = value[0];
  if (
    (state !== IN_PROGRESS && state !== COMPLETED && state !== ASIDE_STATE) ||
    (value[1] !== 0x30 && value[1] !== 0x31)
  ) {
    throw new Malformed("its state and takeover flag are not one of ours");
  }
  const fields = [0, 0, 0, 0, 0, 0]; // n, d, u, c, tl, fl
  let i = 2;
  for (let f = 0; f < 6; f++) {
    let x = 0;
    // Only the deadline may be negative, as the scripts' HEADER reads it: a value they refuse is never
    // read here as a record (large-reads.ts judges what a plain GET read with this).
    const negative = f === 1 && value[i] === MINUS;
    if (negative) i++;
    const start = i;
    for (let c = value[i++]; c !== COLON; c = value[i++]) {
      if (c === undefined || c < 0x30 || c > 0x39) throw new Malformed("its header is not digits and colons");
      x = x * 10 + (c - 0x30);
    }
    if (i - 1 === start || !Number.isSafeInteger(x))
      throw new Malformed("a number in its header is out of range");
    fields[f] = negative ? -x : x;
  }
  const [fence, at, , , tokenLength, fingerprintLength] = fields as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (fence < 1) throw new Malformed(`its fence is ${fence}`);
  const fingerprintStart = i + tokenLength;
  const outcomeStart = fingerprintStart + fingerprintLength;
  if (outcomeStart > value.length || (state === IN_PROGRESS && outcomeStart !== value.length)) {
    throw new Malformed(`its lengths do not add up (${value.length} bytes)`);
  }
  const common = {
    token: value.toString("utf8", i, fingerprintStart),
    fingerprint: value.toString("utf8", fingerprintStart, outcomeStart),
    fence,
  };
  if (state === COMPLETED) {
    // Copy: both clients may hand out a view into the socket's or the parser's shared buffer.
    return {
      state: "completed",
      ...common,
      result: new Uint8Array(value.subarray(outcomeStart)),
      expiresAt: at,
    };
  }
  if (state === ASIDE_STATE) {
    const result = keptAside(value.subarray(i, fingerprintStart), value.subarray(outcomeStart), aside);
    return { state: "completed", ...common, result, expiresAt: at };
  }
  return { state: "in_progress", ...common, leaseExpiresAt: at, takeover: value[1] === 0x31 };
}

/** An outcome key's list as a reply gives it (the scripts answer nil where it is not a list). */
export type Aside = readonly unknown[] | null;

/**
 * The outcome of an "l" record whose token is `token` and whose outcome field is `<byte length>:<outcome
 * key>`, from `aside`, its outcome key's list: "o" and the token, then the outcome's pieces. A copy, as
 * above: the pieces joined.
 */
function keptAside(token: Buffer, field: Buffer, aside: Aside | undefined): Uint8Array {
  const length = /^([0-9]{1,15}):./s.exec(field.toString("latin1", 0, 17))?.[1];
  if (length === undefined) throw new Malformed("the length and key of its outcome are not as written");
  if (!Array.isArray(aside) || aside.length === 0)
    throw new Malformed("its outcome, kept aside, is missing (evicted?)");
  const [head, ...pieces] = aside as unknown[];
  let bytes = 0;
  for (const piece of pieces) {
    if (!Buffer.isBuffer(piece)) throw new Malformed("its outcome, kept aside, is not its own");
    bytes += piece.length;
  }
  if (
    !Buffer.isBuffer(head) ||
    head.length !== 1 + token.length ||
    head[0] !== OUTCOME_MARK ||
    !token.equals(head.subarray(1)) ||
    bytes !== Number(length)
  ) {
    throw new Malformed("its outcome, kept aside, is not its own");
  }
  // Never from Buffer's shared pool, so that the outcome's memory is its own.
  const joined = Buffer.allocUnsafeSlow(bytes);
  let at = 0;
  for (const piece of pieces as Buffer[]) at += piece.copy(joined, at);
  return new Uint8Array(joined.buffer, joined.byteOffset, bytes);
}
