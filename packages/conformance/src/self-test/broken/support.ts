// What the deliberately broken stores are built from: the wrappers and helpers they share.
import type { ClaimRequest, ClaimResult, IdempotencyRecord, IdempotencyStore } from "@idemkit/core";
import { type MemoryStore, type Subject, sweep, wrap } from "../harness.js";

/** A deliberately broken store: which promise it breaks, and what the checks must say of it. */
export interface BrokenStore {
  name: string;
  /** The promise of store.ts it breaks, and how a real store would. */
  breaks: string;
  /** Check id -> what its failure message must say. */
  fails: Record<string, RegExp>;
  /** Builds it on a fresh memory store. */
  build(inner: MemoryStore): Subject;
}

export const now = () => performance.now();
/** The smallest outcome limit a store may declare (`MIN_OUTCOME_LIMIT`). */
export const KiB64 = 64 * 1024;
export const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** What a wrapper knows of the last claim that acquired each key. */
export interface Claimed extends ClaimRequest {
  at: number;
}

/** `inner` that remembers each key's last acquired claim. */
export function tracked(inner: IdempotencyStore) {
  const last = new Map<string, Claimed>();
  const store = wrap(inner, {
    async claim(key, claim) {
      const result = await inner.claim(key, claim);
      if (result.acquired) last.set(key, { ...claim, at: now() });
      return result;
    },
  });
  /** Claims the key again for its last owner if nothing live is there: a lost lease "revived". */
  const revive = async (key: string, token: string) => {
    const claim = last.get(key);
    if (claim?.token !== token || (await inner.get(key)) !== undefined) return false;
    return (await inner.claim(key, claim)).acquired;
  };
  return { store, last, revive };
}

/** A subject with one instance and the memory sweep (plus `purge`, the broken part of a purge). */
export function single(inner: MemoryStore, store: IdempotencyStore, purge?: () => Promise<void>): Subject {
  return {
    instance: () => store,
    purge: async () => {
      await sweep(inner);
      await purge?.();
    },
  };
}

/** A subject on `inner` with the calls in `overrides` replaced (`wrap`), one instance and the sweep. */
export function wrapped(inner: MemoryStore, overrides: Partial<IdempotencyStore>): Subject {
  return single(inner, wrap(inner, overrides));
}

/** As `wrapped`, the overrides knowing each key's last acquired claim (`tracked`). */
export function wrappedTracked(
  inner: MemoryStore,
  overrides: (tracking: ReturnType<typeof tracked>) => Partial<IdempotencyStore>,
): Subject {
  const tracking = tracked(inner);
  return single(inner, wrap(tracking.store, overrides(tracking)));
}

/** Every record a read returns (get, and a claim that did not acquire) passed through `change`. */
export function mapReads(
  inner: IdempotencyStore,
  change: (record: IdempotencyRecord, key: string) => IdempotencyRecord,
) {
  return wrap(inner, {
    async claim(key, claim) {
      const result = await inner.claim(key, claim);
      return result.acquired ? result : { acquired: false, record: change(result.record, key) };
    },
    async get(key) {
      const record = await inner.get(key);
      return record && change(record, key);
    },
  });
}

/** Every claim that acquired answers with `change` of what it acquired (fence, takeover). */
export function mapAcquired(
  inner: IdempotencyStore,
  change: (acquired: { fence: number; takeover: boolean }) => { fence: number; takeover: boolean },
) {
  return wrap(inner, {
    async claim(key, claim) {
      const result = await inner.claim(key, claim);
      return result.acquired ? { ...result, ...change(result) } : result;
    },
  });
}

/** Every key passed through `map` before it reaches the store: a store that mangles keys. */
export function mapKeys(inner: IdempotencyStore, map: (key: string) => string): IdempotencyStore {
  return {
    claim: (key, claim) => inner.claim(map(key), claim),
    complete: (key, token, outcome) => inner.complete(map(key), token, outcome),
    release: (key, token) => inner.release(map(key), token),
    extend: (key, token, leaseMs) => inner.extend(map(key), token, leaseMs),
    get: (key) => inner.get(map(key)),
    delete: (key) => inner.delete(map(key)),
  };
}

export const owns = async (inner: IdempotencyStore, key: string, token: string) => {
  const record = await inner.get(key);
  return record?.state === "in_progress" && record.token === token;
};

export const keyStore = (
  name: string,
  breaks: string,
  fails: Record<string, RegExp>,
  map: (key: string) => string,
): BrokenStore => ({
  name,
  breaks,
  fails,
  build: (inner) => single(inner, mapKeys(inner, map)),
});

export const merged = /merged them/;

export function rewriteCompleted(record: IdempotencyRecord | undefined, change: Partial<IdempotencyRecord>) {
  return record?.state === "completed" ? ({ ...record, ...change } as IdempotencyRecord) : record;
}

/** A subject whose purge also deletes records past the wrong keep-until `until(claim)`. */
export function purgeAfter(inner: MemoryStore, until: (claim: Claimed) => number): Subject {
  const { store, last } = tracked(inner);
  return single(inner, store, async () => {
    for (const [key, claim] of last) {
      if (until(claim) <= now() && (await inner.get(key)) === undefined) {
        await inner.delete(key);
        last.delete(key);
      }
    }
  });
}

/**
 * A claim that reads, yields, then writes over whatever is there when `racy(key)`: concurrent
 * callers all see the key free, and each "wins".
 */
export function checkThenSet(inner: IdempotencyStore, racy: (key: string) => boolean) {
  return async (key: string, claim: ClaimRequest): Promise<ClaimResult> => {
    if (!racy(key) || (await inner.get(key)) !== undefined) return inner.claim(key, claim);
    await tick();
    const current = await inner.get(key);
    // The blind write: whoever holds the key now is overwritten.
    if (current?.state === "in_progress") await inner.release(key, current.token);
    return inner.claim(key, claim);
  };
}
