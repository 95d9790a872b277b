import { AssertionError } from "node:assert";
import { randomUUID } from "node:crypto";
import type { ClaimRequest, IdempotencyStore } from "@idemkit/core";
import { quote, show } from "./assertions.js";

/**
 * The lease of every check that does not wait for a lease to end: long enough that no store, however
 * slow its calls, outlives it in the middle of a check. Only the expiry checks use the short
 * `timing.leaseMs`, and only on the records they wait out.
 */
export const LONG_LEASE_MS = 60_000;
/** The retention of every claim and completion that a check does not wait out. */
export const RETENTION_MS = 60_000;

/** What every check is given: the store, fresh keys, claims, and the suite's timing. */
export interface ConformanceContext {
  /** The store under test (the first instance `createStore` made). */
  readonly store: IdempotencyStore;
  /**
   * `count` store instances: `store` first, then more made by `createStore` (separate connections
   * where the store has them). Made on first use and kept for the rest of the run.
   */
  instances(count: number): Promise<IdempotencyStore[]>;
  /** Runs the store's own cleanup of records past their keep-until (the `purge` option), if it has one. */
  purge(): Promise<void>;
  /** The short lease of the expiry checks. */
  readonly leaseMs: number;
  /** Added to every wait for a deadline to pass. */
  readonly toleranceMs: number;
  /** The largest outcome the store holds, in bytes (`limits.outcomeBytes`); `Infinity` when it declares none. */
  readonly outcomeBytes: number;
  /** Store instances and concurrent calls in the race checks. */
  readonly race: { readonly stores: number; readonly claims: number };
  /** A key no other check (and no other run) uses; `label` shows in it, for an operator reading the store. */
  key(label?: string): string;
  /** A claim with a fresh token, fingerprint `fp-1`, the long lease and the long retention. */
  claim(overrides?: Partial<ClaimRequest>): ClaimRequest;
  /** The same with the short lease, for a record an expiry check waits out. */
  shortClaim(overrides?: Partial<ClaimRequest>): ClaimRequest;
  /** Waits until a deadline `ms` after the end of the last call has passed: `ms` + tolerance. */
  waitPast(ms: number): Promise<void>;
}

export interface ContextParams {
  /** The main instance; read when a check runs (it is made in the suite's `beforeAll`). */
  store: () => IdempotencyStore;
  /** Makes one more instance. */
  make: () => Promise<IdempotencyStore>;
  purge?: (store: IdempotencyStore) => unknown;
  leaseMs: number;
  toleranceMs: number;
  raceStores: number;
  raceClaims: number;
  outcomeBytes?: number;
}

/**
 * The smallest `limits.outcomeBytes` the suite accepts: every store holds 64 KiB (a typical JSON response
 * and its headers). A smaller limit would let a store that keeps only a few hundred bytes pass.
 */
export const MIN_OUTCOME_LIMIT = 64 * 1024;

/** `limits.outcomeBytes`, checked when the suite is set up: an integer of at least 64 KiB, or absent. */
export function checkOutcomeLimit(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < MIN_OUTCOME_LIMIT) {
    throw new TypeError(
      `@idemkit/conformance: limits.outcomeBytes must be a whole number of bytes, at least ${MIN_OUTCOME_LIMIT} ` +
        `(64 KiB): the largest outcome the store holds; got ${show(value)}`,
    );
  }
  return value;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** Local monotonic milliseconds: only durations are read from it. */
export const clock = () => performance.now();

/** Sleeps until `clock()` reaches `at`. */
export const sleepUntil = (at: number) => sleep(at - clock());

export const utf8 = (text: string) => new TextEncoder().encode(text);
export const fromUtf8 = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

const METHODS = ["claim", "complete", "release", "extend", "get", "delete"] as const;
/** The contract's optional capabilities a check may need: wrapped like the methods when the store has them. */
export const CAPABILITIES = ["list", "ping"] as const;
export type Capability = (typeof CAPABILITIES)[number];

/**
 * `store` as the checks call it: a call that rejects fails naming the method and the key (a store
 * rejects only when the outcome is unknown, which a healthy backend never is), the store's error as
 * its cause.
 */
function annotated(store: IdempotencyStore): IdempotencyStore {
  const out = {} as Record<string, (...args: unknown[]) => Promise<unknown>>;
  const offered = CAPABILITIES.filter((name) => typeof store[name] === "function");
  for (const method of [...METHODS, ...offered]) {
    const call = (store[method] as (...args: unknown[]) => Promise<unknown>).bind(store);
    out[method] = async (...args) => {
      try {
        return await call(...args);
      } catch (error) {
        const key = typeof args[0] === "string" ? ` of key ${quote(args[0], 100)}` : "";
        const failure = new AssertionError({ message: `${method}${key} rejected: ${show(error)}` });
        Object.defineProperty(failure, "cause", { value: error });
        throw failure;
      }
    };
  }
  return out as unknown as IdempotencyStore;
}

export function createContext(params: ContextParams): ConformanceContext {
  const run = randomUUID();
  let counter = 0;
  const extra: Promise<IdempotencyStore>[] = [];
  const wrapped = new WeakMap<IdempotencyStore, IdempotencyStore>();
  const checked = (store: IdempotencyStore) => {
    let annotatedStore = wrapped.get(store);
    if (annotatedStore === undefined) {
      annotatedStore = annotated(store);
      wrapped.set(store, annotatedStore);
    }
    return annotatedStore;
  };
  const claim = (leaseMs: number, overrides: Partial<ClaimRequest> = {}): ClaimRequest => ({
    token: randomUUID(),
    fingerprint: "fp-1",
    leaseMs,
    retentionMs: RETENTION_MS,
    ...overrides,
  });
  return {
    get store() {
      return checked(params.store());
    },
    async instances(count) {
      // Pushed synchronously, so concurrent callers share the same instances.
      while (extra.length < count - 1) extra.push(params.make());
      const made = await Promise.all(extra.slice(0, Math.max(0, count - 1)));
      return [params.store(), ...made].map(checked);
    },
    async purge() {
      await params.purge?.(params.store());
    },
    leaseMs: params.leaseMs,
    toleranceMs: params.toleranceMs,
    outcomeBytes: checkOutcomeLimit(params.outcomeBytes) ?? Number.POSITIVE_INFINITY,
    race: { stores: params.raceStores, claims: params.raceClaims },
    key: (label = "k") => `conformance:${run}:${label}:${++counter}`,
    claim: (overrides) => claim(LONG_LEASE_MS, overrides),
    shortClaim: (overrides) => claim(params.leaseMs, overrides),
    waitPast: (ms) => sleep(ms + params.toleranceMs),
  };
}

/** One check of the contract: a vitest test in `runStoreConformance`, a plain function for the suite's own tests. */
export interface Check {
  /** `<group>/<slug>`: stable, used by the suite's own tests to name the check a broken store must fail. */
  readonly id: string;
  /** The test's name. */
  readonly title: string;
  run(t: ConformanceContext): Promise<void>;
  /**
   * The size of the outcome the check completes with, where it is large: the check is skipped, visibly,
   * for a store that declares a smaller `limits.outcomeBytes`.
   */
  readonly outcomeBytes?: number;
  /** The check is about a declared `limits.outcomeBytes`: skipped for a store that declares none. */
  readonly needsOutcomeLimit?: boolean;
  /** The optional capability the check is about: skipped, visibly, for a store without it. */
  readonly needs?: Capability;
}

/** The checks of one group of promises: one file under `checks/`, one `describe` in the suite. */
export interface CheckGroup {
  readonly name: string;
  readonly checks: readonly Check[];
  /**
   * Its checks run one at a time: they load the store (races, megabytes, dozens of keys at once). The
   * checks of the other groups mostly wait for deadlines, a few calls each, and run side by side.
   */
  readonly alone?: boolean;
}

/** `[slug, title, run]`: one check as a group file lists it. */
export type CheckEntry = [
  slug: string,
  title: string,
  run: Check["run"],
  limits?: Pick<Check, "outcomeBytes" | "needsOutcomeLimit" | "needs">,
];

export function group(
  name: string,
  checks: CheckEntry[],
  options: { alone?: boolean; needs?: Capability } = {},
): CheckGroup {
  const { needs, ...rest } = options;
  const list = checks.map(([slug, title, run, limits]) => ({
    id: `${name}/${slug}`,
    title,
    run,
    ...(needs && { needs }),
    ...limits,
  }));
  return { name, checks: list, ...rest };
}
