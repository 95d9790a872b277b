import { listEntries } from "./memory-list.js";
import { describe, functionOption, integerOption, rejectUnknownOptions } from "./options-check.js";
import type {
  ClaimRequest,
  ClaimResult,
  CompleteRequest,
  IdempotencyRecord,
  IdempotencyStore,
} from "./store.js";
import type { ListFilter, ListPage } from "./store-listing.js";
import { storeOptionChecks } from "./store-options.js";

export interface MemoryStoreOptions {
  /**
   * Clock in milliseconds since the epoch; injectable for tests. Default: the process's monotonic
   * clock (`performance.now()`) counted from `performance.timeOrigin`, so a wall-clock step (NTP, an
   * operator) never ends a lease or a retention early, nor stretches one.
   */
  now?: () => number;
  /**
   * The most records the store keeps: unique keys × outcome sizes within the retention would
   * otherwise grow without limit. When a claim of a key the store does not hold finds it full, one
   * record goes, the least harmful first: one past its keep-until time (nothing is lost), else one
   * that reads as absent (an expired or released lease, a completed record past its retention: only
   * its fence is forgotten, so a later claim of that key starts again at fence 1), else the completed
   * record claimed longest ago (a retry of it then runs the work again). A live in-progress record
   * is never evicted: when every record is one, the claim of a new key fails (a store error: core
   * answers 503) until one ends. Candidates are looked for among the oldest 64 that are not live in
   * progress. An integer from 1 to 16,777,216 (2^24, the most a JavaScript Map holds); default 100,000.
   */
  maxEntries?: number;
}

const OPTION_NAMES: ReadonlySet<string> = new Set(["now", "maxEntries"]);

/** The default of `maxEntries`. */
const DEFAULT_MAX_ENTRIES = 100_000;

/** The most entries a V8 `Map` holds: one more throws. */
const MAX_MAP_SIZE = 2 ** 24;

/** How many eviction candidates (records not live in progress) a full store looks at, oldest first. */
const EVICTION_WINDOW = 64;

/**
 * The longest `leaseMs` or `retentionMs` the store accepts (as every idemkit store): 4 × 10^15 ms,
 * about 126,000 years, so that a deadline (now + lease + retention) stays an exact integer of
 * milliseconds (below 2^53). Core's own maximum retention (10 years) is far below it.
 */
const { checkDuration } = storeOptionChecks("idemkit memory store");

/** Epoch milliseconds that only ever move at the pace of real time: immune to wall-clock steps. */
const monotonicNow = () => performance.timeOrigin + performance.now();

export interface Entry {
  record: IdempotencyRecord;
  /** When the claim that wrote the record acquired it (`RecordSummary.claimedAt`). */
  claimedAt: number;
  /** Lease end (in_progress) or retention end (completed): after it the record reads as absent. */
  deadline: number;
  /**
   * After it the entry, and its fence, may be forgotten: the claim's retention past the lease end
   * while in progress (extend moves both), then at least the completion's retention.
   */
  keepUntil: number;
  /** Ended by `release`, not by its lease running out: the next claim is no takeover. */
  released?: boolean;
}

/**
 * Entries each claim checks for removal, resuming where the previous claim stopped: the map is
 * swept round and round in O(1) per claim (never a whole pass at once), so it cannot grow without
 * bound while a claim never pays for the whole map.
 */
const SWEEP_STEP = 4;

/** The memory store: the contract with its optional `list` and `ping`, and its size. */
export interface MemoryStore extends IdempotencyStore {
  list(filter?: ListFilter): Promise<ListPage>;
  ping(): Promise<void>;
  /** How many records it holds, live or kept for their fence. */
  size(): number;
}

export function createMemoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`createMemoryStore: options must be an object; got ${describe(options)}`);
  }
  rejectUnknownOptions("createMemoryStore", options, OPTION_NAMES);
  const now = functionOption<() => number>("now", options.now) ?? monotonicNow;
  const maxEntries = integerOption("maxEntries", options.maxEntries, DEFAULT_MAX_ENTRIES, 1, MAX_MAP_SIZE);
  // In claim order, oldest first: a claim that writes a record moves it to the end.
  const entries = new Map<string, Entry>();
  let cursor: Iterator<[string, Entry]> | undefined;

  /**
   * Makes room for one more record (see `maxEntries`): evicts the least harmful candidate among the
   * oldest `EVICTION_WINDOW` that are not live in progress. `false` when every record is one.
   */
  function evictOne(t: number): boolean {
    let victim: string | undefined;
    let victimRank = 3;
    let candidates = 0;
    for (const [key, entry] of entries) {
      // 0: past keep-until (nothing lost), 1: reads as absent (its fence lost), 2: completed (its replay lost).
      const rank =
        entry.keepUntil <= t ? 0 : entry.deadline <= t ? 1 : entry.record.state === "completed" ? 2 : -1;
      if (rank < 0) continue; // live in progress: never
      if (rank < victimRank) {
        victim = key;
        victimRank = rank;
        if (rank === 0) break;
      }
      if (++candidates >= EVICTION_WINDOW) break;
    }
    if (victim === undefined) return false;
    entries.delete(victim);
    return true;
  }

  function sweepSome(t: number): void {
    for (let i = 0; i < SWEEP_STEP; i++) {
      cursor ??= entries.entries();
      const next = cursor.next();
      if (next.done) {
        cursor = undefined;
        return;
      }
      if (next.value[1].keepUntil <= t) entries.delete(next.value[0]);
    }
  }

  function live(key: string): Entry | undefined {
    const entry = entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.deadline <= now()) return undefined;
    return entry;
  }

  function owned(key: string, token: string): Entry | undefined {
    const entry = live(key);
    return entry?.record.state === "in_progress" && entry.record.token === token ? entry : undefined;
  }

  /** What a caller gets: a copy, outcome bytes included, which it may change without touching ours. */
  function copy(record: IdempotencyRecord): IdempotencyRecord {
    return record.state === "completed" ? { ...record, result: record.result.slice() } : { ...record };
  }

  return {
    async claim(key: string, claim: ClaimRequest): Promise<ClaimResult> {
      checkDuration("claim", "leaseMs", claim.leaseMs, true);
      checkDuration("claim", "retentionMs", claim.retentionMs, false);
      sweepSome(now());
      const current = live(key);
      if (current) return { acquired: false, record: copy(current.record) };
      // An expired record still counts for the fence, so a takeover always gets a higher one.
      const previous = entries.get(key);
      const fence = (previous?.record.fence ?? 0) + 1;
      const takeover = previous?.record.state === "in_progress" && !previous.released;
      const t = now();
      if (previous === undefined && entries.size >= maxEntries && !evictOne(t)) {
        throw new Error(
          `idemkit memory store: claim: the store holds maxEntries (${maxEntries}) records and every one ` +
            "is a live claim in progress: none can be evicted (raise maxEntries, or retry once one ends)",
        );
      }
      const leaseExpiresAt = t + claim.leaseMs;
      // Moved to the end: the map stays in claim order, oldest first, for eviction.
      entries.delete(key);
      entries.set(key, {
        deadline: leaseExpiresAt,
        keepUntil: leaseExpiresAt + claim.retentionMs,
        claimedAt: t,
        record: {
          state: "in_progress",
          token: claim.token,
          fingerprint: claim.fingerprint,
          fence,
          leaseExpiresAt,
          takeover,
        },
      });
      return { acquired: true, fence, takeover };
    },

    async complete(key: string, token: string, outcome: CompleteRequest): Promise<boolean> {
      checkDuration("complete", "retentionMs", outcome.retentionMs, false);
      const entry = owned(key, token);
      if (!entry) return false;
      const expiresAt = now() + outcome.retentionMs;
      const { fingerprint, fence } = entry.record;
      // A copy of the bytes, as a plain Uint8Array: the caller may reuse or change its buffer (and a
      // Buffer's own `slice` would share it).
      const result = new Uint8Array(outcome.result);
      entries.set(key, {
        deadline: expiresAt,
        keepUntil: Math.max(entry.keepUntil, expiresAt),
        claimedAt: entry.claimedAt,
        record: { state: "completed", token, fingerprint, fence, result, expiresAt },
      });
      return true;
    },

    async release(key: string, token: string): Promise<boolean> {
      const entry = owned(key, token);
      if (!entry) return false;
      // Absent from now on, but kept until its keep-until time: the next claim's fence is higher.
      entry.deadline = Number.NEGATIVE_INFINITY;
      entry.released = true;
      return true;
    },

    async extend(key: string, token: string, leaseMs: number): Promise<boolean> {
      checkDuration("extend", "leaseMs", leaseMs, true);
      const entry = owned(key, token);
      if (entry?.record.state !== "in_progress") return false;
      const deadline = now() + leaseMs;
      // Kept as long past the new lease end as it was past the old one.
      entry.keepUntil += deadline - entry.deadline;
      entry.deadline = deadline;
      entry.record.leaseExpiresAt = deadline;
      return true;
    },

    async get(key: string): Promise<IdempotencyRecord | undefined> {
      const entry = live(key);
      return entry ? copy(entry.record) : undefined;
    },

    async delete(key: string): Promise<boolean> {
      // Forgets the fence too: the next claim of the key gets fence 1.
      const existed = live(key) !== undefined;
      entries.delete(key);
      return existed;
    },

    async list(filter) {
      return listEntries(entries, filter, now());
    },

    async ping() {},

    size(): number {
      return entries.size;
    },
  };
}
