import { createMemoryStore, type IdempotencyStore } from "@idemkit/core";
import { type Check, createContext, sleep } from "../context.js";

/** The suite's own tests only: not part of the published package. */

export type MemoryStore = ReturnType<typeof createMemoryStore>;

/**
 * The memory store's purge: it sweeps a few entries on every claim, so enough claims (of one key of
 * its own, live after the first) make it go round the whole map once, forgetting every entry past
 * its keep-until.
 */
export async function sweep(store: MemoryStore): Promise<void> {
  const sweeper = { token: "sweeper", fingerprint: "", leaseMs: 60_000, retentionMs: 0 };
  for (let i = 0, n = store.size(); i <= n; i++) await store.claim("conformance:sweeper", sweeper);
}

/** A store under test outside `runStoreConformance`: how to get an instance, and its purge. */
export interface Subject {
  /** A store instance (called once for the main instance, again for every other one a check asks for). */
  instance(): IdempotencyStore;
  purge(): Promise<void>;
  /** The outcome limit it declares (`limits.outcomeBytes`), if any. */
  outcomeBytes?: number;
}

/** Runs one check against `subject` and returns what it threw, or `undefined` when it passed. */
export async function runCheck(
  check: Check,
  subject: Subject,
  timing: { leaseMs: number; toleranceMs: number } = { leaseMs: 300, toleranceMs: 100 },
): Promise<unknown> {
  const main = subject.instance();
  const context = createContext({
    store: () => main,
    make: async () => subject.instance(),
    purge: () => subject.purge(),
    ...timing,
    raceStores: 4,
    raceClaims: 50,
    outcomeBytes: subject.outcomeBytes,
  });
  try {
    await check.run(context);
    return undefined;
  } catch (error) {
    return error ?? new Error(`${check.id} threw ${String(error)}`);
  }
}

/** `inner` with a hard outcome limit, as a DynamoDB item has: `complete` rejects above `limit` bytes. */
export function limited(inner: IdempotencyStore, limit: number): IdempotencyStore {
  return wrap(inner, {
    async complete(key, token, outcome) {
      if (outcome.result.byteLength > limit) throw new Error(`the outcome is over ${limit} bytes`);
      return inner.complete(key, token, outcome);
    },
  });
}

/** Every method of `inner`, with some replaced. */
export function wrap(inner: IdempotencyStore, replaced: Partial<IdempotencyStore>): IdempotencyStore {
  return {
    claim: (key, claim) => inner.claim(key, claim),
    complete: (key, token, outcome) => inner.complete(key, token, outcome),
    release: (key, token) => inner.release(key, token),
    extend: (key, token, leaseMs) => inner.extend(key, token, leaseMs),
    get: (key) => inner.get(key),
    delete: (key) => inner.delete(key),
    ...(inner.list && { list: (filter) => inner.list!(filter) }),
    ...(inner.ping && { ping: () => inner.ping!() }),
    ...replaced,
  };
}

/**
 * `inner` with `ms` added to every call, half before it reaches the store and half after: a correct
 * store across a network.
 */
export function delayed(inner: IdempotencyStore, ms: number): IdempotencyStore {
  return waitingAround(inner, () => sleep(ms / 2));
}

/** `inner` with every call preceded and followed by `wait()`. */
export function waitingAround(inner: IdempotencyStore, wait: () => Promise<void>): IdempotencyStore {
  const slow =
    <A extends unknown[], R>(method: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      await wait();
      const result = await method(...args);
      await wait();
      return result;
    };
  return {
    claim: slow(inner.claim.bind(inner)),
    complete: slow(inner.complete.bind(inner)),
    release: slow(inner.release.bind(inner)),
    extend: slow(inner.extend.bind(inner)),
    get: slow(inner.get.bind(inner)),
    delete: slow(inner.delete.bind(inner)),
    ...(inner.list && { list: slow(inner.list.bind(inner)) }),
    ...(inner.ping && { ping: slow(inner.ping.bind(inner)) }),
  };
}

export { createMemoryStore };
