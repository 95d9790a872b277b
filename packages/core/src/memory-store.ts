import type {
  ClaimRequest,
  ClaimResult,
  CompleteRequest,
  IdempotencyRecord,
  IdempotencyStore,
} from "./store.js";

export interface MemoryStoreOptions {
  /**
   * Clock in milliseconds since the epoch; injectable for tests. Default: the process's monotonic
   * clock (`performance.now()`) counted from `performance.timeOrigin`, so a wall-clock step (NTP, an
   * operator) never ends a lease or a retention early, nor stretches one.
   */
  now?: () => number;
}

/** Epoch milliseconds that only ever move at the pace of real time: immune to wall-clock steps. */
const monotonicNow = () => performance.timeOrigin + performance.now();

interface Entry {
  record: IdempotencyRecord;
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

export function createMemoryStore(options: MemoryStoreOptions = {}): IdempotencyStore & { size(): number } {
  const now = options.now ?? monotonicNow;
  const entries = new Map<string, Entry>();
  let cursor: Iterator<[string, Entry]> | undefined;

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

  function copy(record: IdempotencyRecord): IdempotencyRecord {
    return record.state === "completed" ? { ...record, result: record.result.slice() } : { ...record };
  }

  return {
    async claim(key: string, claim: ClaimRequest): Promise<ClaimResult> {
      sweepSome(now());
      const current = live(key);
      if (current) return { acquired: false, record: copy(current.record) };
      // An expired record still counts for the fence, so a takeover always gets a higher one.
      const previous = entries.get(key);
      const fence = (previous?.record.fence ?? 0) + 1;
      const takeover = previous?.record.state === "in_progress" && !previous.released;
      const t = now();
      const leaseExpiresAt = t + claim.leaseMs;
      entries.set(key, {
        deadline: leaseExpiresAt,
        keepUntil: leaseExpiresAt + claim.retentionMs,
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
      const entry = owned(key, token);
      if (!entry) return false;
      const expiresAt = now() + outcome.retentionMs;
      const { fingerprint, fence } = entry.record;
      entries.set(key, {
        deadline: expiresAt,
        keepUntil: Math.max(entry.keepUntil, expiresAt),
        record: { state: "completed", token, fingerprint, fence, result: outcome.result.slice(), expiresAt },
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

    size(): number {
      return entries.size;
    },
  };
}
