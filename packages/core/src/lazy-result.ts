import { resultTextBytes } from "./result-text.js";
import type { CompleteRequest } from "./store.js";

// An object whose `result` is the bytes its `resultText` spells, built on first read: a completed record
// a store read as text (PostgreSQL's), or the request `run()` completes a JSON value with, which a store
// that keeps text writes as it is. A 64 KiB outcome's bytes, and a store's copy of them, were what a
// PostgreSQL new key cost over a hand-written one (bench/HISTORY.md, the thirty-first round).

/** Bytes built on a first read, or assigned: kept aside, so a frozen object reads too. */
const built = new WeakMap<object, Uint8Array>();
/** Each object's text, until its bytes are handed out. */
const texts = new WeakMap<object, string>();

/**
 * One getter for every object, own and enumerable (spreading or comparing the object reads it): one
 * function per object would give each a hidden class of its own (work-context.ts says why).
 */
const LAZY_RESULT: PropertyDescriptor = {
  enumerable: true,
  configurable: true,
  get(this: object) {
    let result = built.get(this);
    if (result === undefined) {
      const text = texts.get(this);
      result = text === undefined ? undefined : resultTextBytes(text);
      if (result === undefined) throw new TypeError("idemkit: this resultText is not an outcome's text");
      built.set(this, result);
    }
    return result;
  },
  set(this: object, result: Uint8Array) {
    // An accessor's setter runs on a frozen object too: refuse, as a data property would.
    if (Object.isFrozen(this)) throw new TypeError("Cannot assign to read only property 'result' of object");
    built.set(this, result);
  },
};

/**
 * The text, not enumerable (a copy made by spreading, by a wrapper that changes `result` say, carries
 * the bytes and not a text that may no longer spell them), and gone once the bytes are: after `result`
 * was read (whoever read it may change the bytes in place: a wrapper that encrypts them, say), assigned
 * or redefined, frozen objects included. A store must not then write a text that no longer spells them.
 */
const RESULT_TEXT: PropertyDescriptor = {
  enumerable: false,
  configurable: true,
  get(this: object) {
    if (built.has(this) || Object.getOwnPropertyDescriptor(this, "result")?.get !== LAZY_RESULT.get)
      return undefined;
    return texts.get(this);
  },
  set(this: object, text: string | undefined) {
    if (Object.isFrozen(this))
      throw new TypeError("Cannot assign to read only property 'resultText' of object");
    if (text === undefined) texts.delete(this);
    else texts.set(this, text);
  },
};

/**
 * `target` with `resultText` and `result`, the bytes it spells, built only if read (`RESULT_TEXT` says
 * when the text is gone). `resultText` must be a result text (result-text.ts).
 */
export function withLazyResult<T extends object>(
  target: T,
  resultText: string,
): T & { result: Uint8Array; resultText?: string } {
  texts.set(target, resultText);
  Object.defineProperty(target, "resultText", RESULT_TEXT);
  return Object.defineProperty(target, "result", LAZY_RESULT) as T & {
    result: Uint8Array;
    resultText?: string;
  };
}

/** What a store's `complete` gets for an outcome: its bytes, or its result text with the bytes built if read. */
export const completeRequest = (outcome: Uint8Array | string, retentionMs: number): CompleteRequest =>
  typeof outcome === "string" ? withLazyResult({ retentionMs }, outcome) : { result: outcome, retentionMs };
