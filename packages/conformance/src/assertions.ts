import { AssertionError } from "node:assert";
import type { ClaimResult, IdempotencyRecord } from "@idemkit/core";

/**
 * Assertions whose failures say what broke, in the contract's words: which field of which record,
 * which fence was expected and why, which keys met. Plain functions, so a check runs the same under
 * vitest and in the suite's own tests.
 */

export function fail(message: string): never {
  throw new AssertionError({ message });
}

/** Names for values a message may show: a token is clearer as "the first owner's token". */
export type Names = ReadonlyMap<unknown, string>;

/** A string with everything but printable ASCII escaped, so `é` and `e` + U+0301 read differently. */
export function quote(text: string, max = 120): string {
  const escaped = (s: string) => {
    let out = "";
    for (const ch of s) {
      const cp = ch.codePointAt(0)!;
      if (ch === '"' || ch === "\\") out += `\\${ch}`;
      else if (cp >= 0x20 && cp < 0x7f) out += ch;
      else out += cp > 0xffff ? `\\u{${cp.toString(16)}}` : `\\u${cp.toString(16).padStart(4, "0")}`;
    }
    return out;
  };
  if (text.length <= max) return `"${escaped(text)}"`;
  return `"${escaped(text.slice(0, 48))}…${escaped(text.slice(-24))}" (${text.length} UTF-16 units)`;
}

function hex(bytes: Uint8Array, from: number, count: number): string {
  return Array.from(bytes.subarray(from, from + count), (b) => b.toString(16).padStart(2, "0")).join(" ");
}

/** A value as a message shows it: strings escaped, byte arrays summarised, named values by name. */
export function show(value: unknown, names?: Names): string {
  const name = names?.get(value);
  if (name !== undefined) return `${typeof value === "string" ? quote(value, 40) : String(value)} (${name})`;
  if (value === undefined) return "undefined";
  if (value === null) return "null";
  if (typeof value === "string") return quote(value);
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value !== "object") return String(value);
  if (value instanceof Uint8Array) {
    const more = value.length > 16 ? " …" : "";
    return `<${value.constructor.name} of ${value.length} bytes${value.length ? `: ${hex(value, 0, 16)}${more}` : ""}>`;
  }
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  if (Array.isArray(value)) return `[${value.map((v) => show(v, names)).join(", ")}]`;
  const fields = Object.entries(value as Record<string, unknown>).map(([k, v]) => `${k}: ${show(v, names)}`);
  return `{ ${fields.join(", ")} }`;
}

/** Why two byte sequences differ, or `undefined` when they are equal. */
export function bytesDiffer(actual: unknown, expected: Uint8Array): string | undefined {
  if (!(actual instanceof Uint8Array)) return `the result is ${show(actual)}, not a Uint8Array`;
  if (actual.length !== expected.length) {
    return `the result has ${actual.length} bytes, expected ${expected.length}`;
  }
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) {
      return `the result differs from the stored bytes first at byte ${i} of ${actual.length}: ${hex(actual, i, 8)} instead of ${hex(expected, i, 8)}`;
    }
  }
  return undefined;
}

/** Why two strings differ, briefly (for long ones, where). */
export function stringsDiffer(actual: unknown, expected: string): string | undefined {
  if (actual === expected) return undefined;
  if (typeof actual !== "string") return `${show(actual)} instead of the string ${quote(expected, 60)}`;
  if (actual.length <= 60 && expected.length <= 60) return `${quote(actual)} instead of ${quote(expected)}`;
  let i = 0;
  while (i < actual.length && i < expected.length && actual[i] === expected[i]) i++;
  return `${actual.length} UTF-16 units instead of ${expected.length}, first different at index ${i} (${quote(actual.slice(i, i + 12))} instead of ${quote(expected.slice(i, i + 12))})`;
}

export function expectBoolean(actual: unknown, expected: boolean, what: string, why = ""): void {
  if (actual !== expected)
    fail(`${what} returned ${show(actual)}, expected ${expected}${why ? `: ${why}` : ""}`);
}

/** Asserts an acquired claim with this fence and takeover flag. */
export function expectAcquired(
  result: ClaimResult,
  expected: { fence: number; takeover: boolean; fenceWhy?: string; takeoverWhy?: string },
  what: string,
): void {
  if (result === null || typeof result !== "object") fail(`${what}: the claim returned ${show(result)}`);
  if (result.acquired !== true) {
    fail(
      `${what}: expected to acquire the key (fence ${expected.fence}), but the claim returned ` +
        `acquired: ${show(result.acquired)} with the record ${show((result as { record?: unknown }).record)}`,
    );
  }
  if (result.fence !== expected.fence) {
    fail(
      `${what}: acquired with fence ${show(result.fence)}, expected fence ${expected.fence}` +
        (expected.fenceWhy ? ` (${expected.fenceWhy})` : ""),
    );
  }
  if (result.takeover !== expected.takeover) {
    fail(
      `${what}: acquired with takeover: ${show(result.takeover)}, expected takeover: ${expected.takeover}` +
        (expected.takeoverWhy ? ` (${expected.takeoverWhy})` : ""),
    );
  }
}

/** Asserts a claim that did not acquire, and returns the live record it came back with. */
export function expectLost(result: ClaimResult, what: string, why = ""): IdempotencyRecord {
  if (result === null || typeof result !== "object") fail(`${what}: the claim returned ${show(result)}`);
  if (result.acquired !== false) {
    fail(
      `${what}: expected the claim to find the live record and not acquire, but it acquired the key ` +
        `with fence ${show((result as { fence?: unknown }).fence)}${why ? `: ${why}` : ""}`,
    );
  }
  if (result.record === null || typeof result.record !== "object") {
    fail(`${what}: a claim that did not acquire must return the live record, got ${show(result.record)}`);
  }
  return result.record;
}

export interface RecordExpectation {
  state: "in_progress" | "completed";
  token?: string;
  fingerprint?: string;
  fence?: number;
  takeover?: boolean;
  leaseExpiresAt?: number;
  expiresAt?: number;
  result?: Uint8Array;
}

/** Asserts a record field by field; the message lists every field that is wrong. */
export function expectRecord(
  actual: IdempotencyRecord | undefined,
  expected: RecordExpectation,
  what: string,
  names?: Names,
): void {
  if (actual === undefined || actual === null) {
    fail(`${what}: expected the ${expected.state} record, but the key reads as absent (${show(actual)})`);
  }
  if (actual.state !== expected.state) {
    fail(
      `${what}: state ${show(actual.state)}, expected ${show(expected.state)}; the record: ${show(actual)}`,
    );
  }
  const wrong: string[] = [];
  const record = actual as unknown as Record<string, unknown>;
  for (const field of ["token", "fingerprint"] as const) {
    const want = expected[field];
    if (want === undefined) continue;
    const got = record[field];
    if (got === want) continue;
    wrong.push(
      names?.has(got) || typeof got !== "string" || (got.length <= 60 && want.length <= 60)
        ? `${field} ${show(got, names)} instead of ${show(want, names)}`
        : `${field}: ${stringsDiffer(got, want)}`,
    );
  }
  for (const field of ["fence", "takeover", "leaseExpiresAt", "expiresAt"] as const) {
    const want = expected[field];
    if (want !== undefined && !Object.is(record[field], want)) {
      wrong.push(`${field} ${show(record[field])} instead of ${show(want)}`);
    }
  }
  if (expected.result !== undefined) {
    const why = bytesDiffer(record.result, expected.result);
    if (why) wrong.push(why);
  }
  if (wrong.length > 0) fail(`${what}: ${wrong.join("; ")}`);
}

/** Asserts the key reads as absent. */
export function expectAbsent(actual: IdempotencyRecord | undefined, what: string, why = ""): void {
  if (actual !== undefined)
    fail(`${what}: expected the key to read as absent, got ${show(actual)}${why ? `: ${why}` : ""}`);
}

/**
 * Awaits a store call; a rejection fails naming the call (a rejection means "outcome unknown", which a
 * correct store never answers to a well-formed call on a healthy backend).
 */
export async function attempt<T>(what: string, call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (error) {
    // A call the context already named (`claim of key … rejected: …`) keeps its message.
    const detail = error instanceof AssertionError ? error.message : `rejected: ${show(error)}`;
    const failure = new AssertionError({ message: `${what}: ${detail}` });
    Object.defineProperty(failure, "cause", { value: error });
    throw failure;
  }
}
