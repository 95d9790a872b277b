// A model of the store contract's state machine (docs/design.md#state-machine) and the fast-check commands that drive
// a real store and the model side by side. Deadlines are windows: on an injected clock they are
// exact instants; on a server clock each operation is known to have run somewhere between the
// local times taken before and after it, and `toleranceMs` absorbs the rest (rounding, clock reads).
// When a deadline falls inside that uncertainty the model accepts either answer and follows the
// store's, so it never asserts a coin toss.
import { randomUUID } from "node:crypto";
import type { ClaimResult, IdempotencyRecord, IdempotencyStore } from "@idemkit/core";
import fc from "fast-check";
import { expect } from "vitest";
import type { Clock } from "./targets.js";

interface Window {
  lo: number;
  hi: number;
}

interface ModelRecord {
  state: "in_progress" | "completed";
  token: string;
  fingerprint: string;
  fence: number;
  result?: Uint8Array;
  /** Lease end (in progress) or retention end (completed). */
  deadline: Window;
  /** Until when the store must still know the fence (docs/design.md#state-machine, rule 7). */
  keep: Window;
  /** Ended by `release` (of `token`), not by its lease running out. */
  released?: boolean;
}

interface KeyModel {
  key: string;
  /** The last record written; it may be expired (then it only still carries the fence). */
  rec?: ModelRecord;
  /** Every token ever used on this key: the current owner and stale ones. */
  tokens: string[];
  /** Tokens whose owner crashed: any later write with them is a zombie's. */
  crashed: Set<string>;
}

export interface Model {
  keys: KeyModel[];
}

export interface Real {
  store: IdempotencyStore;
  clock: Clock;
  /** Runs the store's cleanup of records past keep-until now (purge, sweep); absent where a TTL does it. */
  purge?: () => Promise<void>;
}

export interface Timing {
  leaseMs: number;
  retentionMs: number;
  /** Slack on server clocks; 0 on an injected clock. */
  toleranceMs: number;
  /** Candidate "advance time" steps. */
  steps: number[];
}

type Phase = "live" | "ended" | "unknown";

/** Where a deadline stands for an operation the store ran at some instant within [before, after]. */
function phase(deadline: Window, before: number, after: number, tol: number): Phase {
  if (deadline.lo > after + tol) return "live";
  if (deadline.hi + tol <= before) return "ended";
  return "unknown";
}

const shift = (before: number, after: number, ms: number): Window => ({ lo: before + ms, hi: after + ms });

async function timed<T>(
  clock: Clock,
  fn: () => Promise<T>,
): Promise<{ value: T; before: number; after: number }> {
  const before = clock.now();
  const value = await fn();
  return { value, before, after: clock.now() };
}

function expectMatches(actual: IdempotencyRecord, rec: ModelRecord, tol: number): void {
  expect(actual.state).toBe(rec.state);
  expect(actual.token).toBe(rec.token);
  expect(actual.fingerprint).toBe(rec.fingerprint);
  expect(actual.fence).toBe(rec.fence);
  const deadline = actual.state === "completed" ? actual.expiresAt : actual.leaseExpiresAt;
  expect(deadline).toBeGreaterThanOrEqual(rec.deadline.lo - tol);
  expect(deadline).toBeLessThanOrEqual(rec.deadline.hi + tol);
  if (actual.state === "completed") {
    // Every replay equals the stored outcome, byte for byte.
    expect(Buffer.from(actual.result).equals(Buffer.from(rec.result ?? new Uint8Array(0)))).toBe(true);
  }
}

/** After every command: the store's view of the key is the model's (or, in doubt, expired). */
async function checkKey(k: KeyModel, r: Real, t: Timing): Promise<void> {
  const { value: got, before, after } = await timed(r.clock, () => r.store.get(k.key));
  if (!k.rec) {
    expect(got).toBeUndefined();
    return;
  }
  const p = phase(k.rec.deadline, before, after, t.toleranceMs);
  if (p === "live") {
    expect(got).toBeDefined();
    expectMatches(got as IdempotencyRecord, k.rec, t.toleranceMs);
  } else if (p === "ended") {
    expect(got).toBeUndefined();
  } else if (got) {
    expectMatches(got, k.rec, t.toleranceMs);
  }
}

/** The fence a claim may get, given what the store must still remember (rule 7: fences only grow). */
function expectFence(k: KeyModel, fence: number, before: number, after: number, tol: number): void {
  expect(Number.isInteger(fence)).toBe(true);
  if (!k.rec) {
    // Nothing kept (never claimed): the contract starts at 1.
    expect(fence).toBe(1);
    return;
  }
  const kept = phase(k.rec.keep, before, after, tol);
  if (kept === "live") expect(fence).toBeGreaterThan(k.rec.fence);
  else expect(fence === 1 || fence > k.rec.fence).toBe(true);
}

abstract class KeyCommand implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly keyIndex: number,
    readonly t: Timing,
  ) {}
  check(_m: Readonly<Model>): boolean {
    return true;
  }
  abstract run(m: Model, r: Real): Promise<void>;
  abstract toString(): string;
}

/** A new attempt claims the key with a fresh token. */
class Claim extends KeyCommand {
  constructor(
    keyIndex: number,
    t: Timing,
    readonly fingerprint: string,
  ) {
    super(keyIndex, t);
  }
  async run(m: Model, r: Real): Promise<void> {
    const k = m.keys[this.keyIndex] as KeyModel;
    const token = randomUUID();
    await claimWith(k, r, this.t, token, this.fingerprint);
    await checkKey(k, r, this.t);
  }
  toString() {
    return `claim(k${this.keyIndex}, ${this.fingerprint})`;
  }
}

/** The owner re-sends its claim (its first reply was lost): it must recognise its own record. */
class ClaimAgain extends KeyCommand {
  override check(m: Readonly<Model>): boolean {
    return m.keys[this.keyIndex]?.rec?.state === "in_progress";
  }
  async run(m: Model, r: Real): Promise<void> {
    const k = m.keys[this.keyIndex] as KeyModel;
    const rec = k.rec as ModelRecord;
    await claimWith(k, r, this.t, rec.token, rec.fingerprint);
    await checkKey(k, r, this.t);
  }
  toString() {
    return `claimAgain(k${this.keyIndex})`;
  }
}

async function claimWith(k: KeyModel, r: Real, t: Timing, token: string, fingerprint: string): Promise<void> {
  let timedClaim: { value: ClaimResult; before: number; after: number };
  try {
    timedClaim = await timed(r.clock, () =>
      r.store.claim(k.key, { token, fingerprint, leaseMs: t.leaseMs, retentionMs: t.retentionMs }),
    );
  } catch (error) {
    // The token that released the record claims again: only a late copy of an answered claim does
    // that, and a store may refuse it (store.ts, `claim`) rather than make an owner nobody is.
    if (!(k.rec?.released && k.rec.token === token)) throw error;
    expect(await r.store.get(k.key)).toBeUndefined();
    return;
  }
  const { value: res, before, after } = timedClaim;
  const p = k.rec ? phase(k.rec.deadline, before, after, t.toleranceMs) : "ended";
  if (res.acquired) {
    // At most one live owner: a live record is never claimed over.
    expect(p).not.toBe("live");
    expectFence(k, res.fence, before, after, t.toleranceMs);
    if (!k.tokens.includes(token)) k.tokens.push(token);
    // Kept the claim's retention past the lease end, however the two compare (store contract).
    k.rec = {
      state: "in_progress",
      token,
      fingerprint,
      fence: res.fence,
      deadline: shift(before, after, t.leaseMs),
      keep: shift(before, after, t.leaseMs + t.retentionMs),
    };
  } else {
    expect(p).not.toBe("ended");
    expect(k.rec).toBeDefined();
    // The live record comes back in the same step, with its owner's token and fingerprint.
    expectMatches(res.record, k.rec as ModelRecord, t.toleranceMs);
  }
}

/** Picks a token among those used on the key, or a stranger's (index past the end). */
function pickToken(k: KeyModel, index: number): string {
  return index < k.tokens.length ? (k.tokens[index] as string) : `stranger-${index}`;
}

/** Would a CAS by `token` succeed? `unknown` when the lease is ending right now. */
function ownership(k: KeyModel, token: string, before: number, after: number, tol: number): Phase {
  const rec = k.rec;
  if (rec?.state !== "in_progress" || rec.token !== token) return "ended";
  return phase(rec.deadline, before, after, tol);
}

abstract class CasCommand extends KeyCommand {
  constructor(
    keyIndex: number,
    t: Timing,
    readonly tokenIndex: number,
  ) {
    super(keyIndex, t);
  }
  protected token(m: Model): string {
    const k = m.keys[this.keyIndex] as KeyModel;
    return pickToken(k, this.tokenIndex % (k.tokens.length + 1));
  }
  /** Runs the CAS, checks its answer against ownership and applies `onSuccess` to the model. */
  protected async cas(
    m: Model,
    r: Real,
    op: (token: string) => Promise<boolean>,
    onSuccess: (k: KeyModel, before: number, after: number) => void,
  ): Promise<void> {
    const k = m.keys[this.keyIndex] as KeyModel;
    const token = this.token(m);
    const { value: ok, before, after } = await timed(r.clock, () => op(token));
    const owns = ownership(k, token, before, after, this.t.toleranceMs);
    // A stale or foreign token never changes a record; the owner's live token always does.
    if (owns === "live") expect(ok).toBe(true);
    if (owns === "ended") expect(ok).toBe(false);
    if (ok) onSuccess(k, before, after);
    await checkKey(k, r, this.t);
  }
}

class Complete extends CasCommand {
  constructor(
    keyIndex: number,
    t: Timing,
    tokenIndex: number,
    readonly result: Uint8Array,
  ) {
    super(keyIndex, t, tokenIndex);
  }
  run(m: Model, r: Real) {
    const { retentionMs } = this.t;
    return this.cas(
      m,
      r,
      (token) =>
        r.store.complete(m.keys[this.keyIndex]?.key as string, token, { result: this.result, retentionMs }),
      (k, before, after) => {
        const rec = k.rec as ModelRecord;
        const deadline = shift(before, after, retentionMs);
        // Kept until retention ends after the completion, or after the claim if that is later.
        const keep = { lo: Math.max(rec.keep.lo, deadline.lo), hi: Math.max(rec.keep.hi, deadline.hi) };
        k.rec = { ...rec, state: "completed", result: this.result.slice(), deadline, keep };
      },
    );
  }
  toString() {
    return `complete(k${this.keyIndex}, token#${this.tokenIndex}, ${this.result.length} bytes)`;
  }
}

class Release extends CasCommand {
  run(m: Model, r: Real) {
    return this.cas(
      m,
      r,
      (token) => r.store.release(m.keys[this.keyIndex]?.key as string, token),
      (k, _before, after) => {
        // Absent at once, but the record and its fence are kept until keep-until (contract).
        const rec = k.rec as ModelRecord;
        k.rec = {
          ...rec,
          released: true,
          deadline: {
            lo: Number.NEGATIVE_INFINITY,
            hi: Math.min(after, rec.deadline.hi) - 2 * this.t.toleranceMs - 1,
          },
        };
      },
    );
  }
  toString() {
    return `release(k${this.keyIndex}, token#${this.tokenIndex})`;
  }
}

class Extend extends CasCommand {
  constructor(
    keyIndex: number,
    t: Timing,
    tokenIndex: number,
    readonly leaseMs: number,
  ) {
    super(keyIndex, t, tokenIndex);
  }
  run(m: Model, r: Real) {
    return this.cas(
      m,
      r,
      (token) => r.store.extend(m.keys[this.keyIndex]?.key as string, token, this.leaseMs),
      (k, before, after) => {
        const rec = k.rec as ModelRecord;
        const deadline = shift(before, after, this.leaseMs);
        // Keep-until moves as far as the lease end: still the claim's retention past it.
        const keep = { lo: deadline.lo + this.t.retentionMs, hi: deadline.hi + this.t.retentionMs };
        k.rec = { ...rec, deadline, keep };
      },
    );
  }
  toString() {
    return `extend(k${this.keyIndex}, token#${this.tokenIndex}, ${this.leaseMs} ms)`;
  }
}

class AdvanceTime implements fc.AsyncCommand<Model, Real> {
  constructor(readonly ms: number) {}
  check() {
    return true;
  }
  async run(_m: Model, r: Real) {
    await r.clock.advance(this.ms);
  }
  toString() {
    return `advance(${this.ms} ms)`;
  }
}

/** The owner of the key dies (no heartbeat, no completion) and its lease runs out. */
class Crash extends KeyCommand {
  override check(m: Readonly<Model>): boolean {
    return m.keys[this.keyIndex]?.rec?.state === "in_progress";
  }
  async run(m: Model, r: Real) {
    const k = m.keys[this.keyIndex] as KeyModel;
    k.crashed.add((k.rec as ModelRecord).token);
    await r.clock.advance(this.t.leaseMs + 2 * this.t.toleranceMs + 1);
    await checkKey(k, r, this.t);
  }
  toString() {
    return `crash(k${this.keyIndex})`;
  }
}

/** The store's own cleanup runs now: it may forget only records past their keep-until. */
class Purge implements fc.AsyncCommand<Model, Real> {
  constructor(readonly t: Timing) {}
  check() {
    return true;
  }
  async run(m: Model, r: Real) {
    await r.purge?.();
    for (const k of m.keys) await checkKey(k, r, this.t);
  }
  toString() {
    return "purge()";
  }
}

export const KEYS = 2;

/** The command generator: claims, CAS writes with current, stale and foreign tokens, time, crashes. */
export function commandArbitrary(t: Timing, maxCommands: number) {
  const key = fc.nat({ max: KEYS - 1 });
  const tokenIndex = fc.nat({ max: 6 });
  const payload = fc.oneof(
    fc.constant(new Uint8Array(0)),
    fc.uint8Array({ minLength: 1, maxLength: 24 }),
    fc.constant(Uint8Array.of(0, 255, 0)),
  );
  const extendMs = fc.constantFrom(t.leaseMs, Math.floor(t.leaseMs / 2), t.leaseMs * 2);
  return fc.commands(
    [
      fc.tuple(key, fc.constantFrom("fp-a", "fp-b")).map(([k, fp]) => new Claim(k, t, fp)),
      key.map((k) => new ClaimAgain(k, t)),
      fc.tuple(key, tokenIndex, payload).map(([k, i, p]) => new Complete(k, t, i, p)),
      fc.tuple(key, tokenIndex).map(([k, i]) => new Release(k, t, i)),
      fc.tuple(key, tokenIndex, extendMs).map(([k, i, ms]) => new Extend(k, t, i, ms)),
      fc.constantFrom(...t.steps).map((ms) => new AdvanceTime(ms)),
      key.map((k) => new Crash(k, t)),
      fc.constant(new Purge(t)),
    ],
    { maxCommands },
  );
}

export function initialModel(prefix: string): Model {
  return {
    keys: Array.from({ length: KEYS }, (_, i) => ({
      // Keys as core may produce them: prefixes, separators, quotes, unicode.
      key: `${prefix}:k${i}:{"é ü"}%:`,
      tokens: [],
      crashed: new Set<string>(),
    })),
  };
}
