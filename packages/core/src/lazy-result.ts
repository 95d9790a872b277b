import { resultTextBytes } from "./result-text.js";
import type { CompleteRequest } from "./store.js";

// An object whose `result` is the bytes its `resultText` spells, built on first read: a completed record
// a store read as text (PostgreSQL's), or the request `run()` completes a JSON value with, which a store
// that keeps text writes as it is. A 64 KiB outcome's bytes, and a store's copy of them, were what a
// PostgreSQL new key cost over a hand-written one (bench/HISTORY.md, the thirty-first round).

/** Bytes built on a first read, or assigned: kept aside, so a frozen object reads too. */
const built = new WeakMap<object, Uint8Array>();

/**
 * One getter for every object, own and enumerable (spreading or comparing the object reads it): one
 * function per object would give each a hidden class of its own (work-context.ts says why). The first
 * read drops `resultText` (a frozen object keeps it): whoever got the bytes may change them in place (a
 * wrapper that encrypts them, say), and a store must not then write a text that no longer spells them.
 * Assigning `result` drops it too.
 */
const LAZY_RESULT: PropertyDescriptor = {
  enumerable: true,
  configurable: true,
  get(this: { resultText?: string }) {
    let result = built.get(this);
    if (result === undefined) {
      result = this.resultText === undefined ? undefined : resultTextBytes(this.resultText);
      if (result === undefined) throw new TypeError("idemkit: this resultText is not an outcome's text");
      built.set(this, result);
      Reflect.set(this, "resultText", undefined);
    }
    return result;
  },
  set(this: { resultText?: string }, result: Uint8Array) {
    this.resultText = undefined; // first: on a frozen object this throws, and nothing has changed
    built.set(this, result);
  },
};

/**
 * `target` with `resultText` (not enumerable: a copy made by spreading, by a wrapper that changes
 * `result` say, carries the bytes and not a text that may no longer spell them) and `result` the bytes
 * it spells, built only if read. `resultText` must be a result text (result-text.ts).
 */
export function withLazyResult<T extends object>(
  target: T,
  resultText: string,
): T & { result: Uint8Array; resultText?: string } {
  Object.defineProperty(target, "resultText", {
    writable: true,
    enumerable: false,
    configurable: true,
    value: resultText,
  });
  return Object.defineProperty(target, "result", LAZY_RESULT) as T & {
    result: Uint8Array;
    resultText?: string;
  };
}

/** What a store's `complete` gets for an outcome: its bytes, or its result text with the bytes built if read. */
export const completeRequest = (outcome: Uint8Array | string, retentionMs: number): CompleteRequest =>
  typeof outcome === "string" ? withLazyResult({ retentionMs }, outcome) : { result: outcome, retentionMs };
