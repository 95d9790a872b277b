import type { ClaimRequest, ClaimResult, IdempotencyRecord, IdempotencyStore } from "@idemkit/core";
import { createMemoryStore, limited, type MemoryStore, type Subject, sweep, wrap } from "./harness.js";

/**
 * Deliberately broken stores, one broken promise each, built by wrapping a memory store. The suite's
 * own tests require each to fail the checks named in `fails`, with a message that says what broke.
 * A new check comes with a broken store that only it catches.
 */
export interface BrokenStore {
  name: string;
  /** The promise of store.ts it breaks, and how a real store would. */
  breaks: string;
  /** Check id -> what its failure message must say. */
  fails: Record<string, RegExp>;
  /** Builds it on a fresh memory store. */
  build(inner: MemoryStore): Subject;
}

const now = () => performance.now();
/** The smallest outcome limit a store may declare (`MIN_OUTCOME_LIMIT`). */
const KiB64 = 64 * 1024;
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** What a wrapper knows of the last claim that acquired each key. */
interface Claimed extends ClaimRequest {
  at: number;
}

/** `inner` that remembers each key's last acquired claim. */
function tracked(inner: IdempotencyStore) {
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
function single(inner: MemoryStore, store: IdempotencyStore, purge?: () => Promise<void>): Subject {
  return {
    instance: () => store,
    purge: async () => {
      await sweep(inner);
      await purge?.();
    },
  };
}

/** Every record a read returns (get, and a claim that did not acquire) passed through `change`. */
function mapReads(
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

/** Every key passed through `map` before it reaches the store: a store that mangles keys. */
function mapKeys(inner: IdempotencyStore, map: (key: string) => string): IdempotencyStore {
  return {
    claim: (key, claim) => inner.claim(map(key), claim),
    complete: (key, token, outcome) => inner.complete(map(key), token, outcome),
    release: (key, token) => inner.release(map(key), token),
    extend: (key, token, leaseMs) => inner.extend(map(key), token, leaseMs),
    get: (key) => inner.get(map(key)),
    delete: (key) => inner.delete(map(key)),
  };
}

const owns = async (inner: IdempotencyStore, key: string, token: string) => {
  const record = await inner.get(key);
  return record?.state === "in_progress" && record.token === token;
};

const keyStore = (
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

const merged = /merged them/;

export const brokenStores: BrokenStore[] = [
  // claims
  {
    name: "fence-starts-at-zero",
    breaks: "fence starts at 1 when nothing is kept (a counter read before its increment)",
    fails: { "claims/fresh": /fence 0, expected fence 1/ },
    build: (inner) =>
      single(
        inner,
        wrap(inner, {
          async claim(key, claim) {
            const result = await inner.claim(key, claim);
            return result.acquired ? { ...result, fence: result.fence - 1 } : result;
          },
        }),
      ),
  },
  {
    name: "conflict-echoes-caller",
    breaks:
      "a losing claim returns the live record as stored (this one echoes the caller's token and fingerprint)",
    fails: { "claims/live-record": /the losing caller's own token\) instead of .*the owner's token/ },
    build: (inner) =>
      single(
        inner,
        wrap(inner, {
          async claim(key, claim) {
            const result = await inner.claim(key, claim);
            if (result.acquired) return result;
            return {
              acquired: false,
              record: { ...result.record, token: claim.token, fingerprint: claim.fingerprint },
            };
          },
        }),
      ),
  },
  {
    name: "same-token-reacquires",
    breaks: "a claim retried with the owner's token returns the record (this one acquires again)",
    fails: {
      "claims/same-token-retry":
        /expected the claim to find the live record and not acquire, but it acquired/,
      "expiry/takeover-retry": /expected the claim to find the live record and not acquire, but it acquired/,
    },
    build: (inner) =>
      single(
        inner,
        wrap(inner, {
          async claim(key, claim): Promise<ClaimResult> {
            const result = await inner.claim(key, claim);
            if (
              result.acquired ||
              result.record.state !== "in_progress" ||
              result.record.token !== claim.token
            ) {
              return result;
            }
            return { acquired: true, fence: result.record.fence, takeover: result.record.takeover };
          },
        }),
      ),
  },
  {
    name: "claim-refreshes-lease",
    breaks:
      "a losing claim changes nothing (this one renews the live lease, as a SET with a TTL on every claim would)",
    fails: { "claims/losing-claim-changes-nothing": /moved its lease end from \d+(\.\d+)? to/ },
    build: (inner) =>
      single(
        inner,
        wrap(inner, {
          async claim(key, claim) {
            const result = await inner.claim(key, claim);
            if (!result.acquired && result.record.state === "in_progress") {
              await inner.extend(key, result.record.token, claim.leaseMs);
            }
            return result;
          },
        }),
      ),
  },
  {
    name: "rejects-zero-retention",
    breaks: "retentionMs is any value >= 0 (this one rejects 0, as Redis rejects PX 0)",
    fails: { "claims/zero-retention": /invalid expire time/ },
    build: (inner) =>
      single(
        inner,
        wrap(inner, {
          async claim(key, claim) {
            if (claim.retentionMs === 0) throw new Error("ERR invalid expire time in 'set' command");
            return inner.claim(key, claim);
          },
        }),
      ),
  },
  {
    name: "empty-fingerprint-as-null",
    breaks: "the fingerprint is returned as stored (this one reads '' back as NULL, as Oracle stores it)",
    fails: { "claims/fingerprint-empty": /fingerprint null instead of ""/ },
    build: (inner) =>
      single(
        inner,
        mapReads(inner, (record) =>
          record.fingerprint === "" ? { ...record, fingerprint: null as unknown as string } : record,
        ),
      ),
  },
  {
    name: "fingerprint-truncated",
    breaks: "the fingerprint is returned as stored (this one keeps 255 characters, a VARCHAR(255))",
    fails: { "claims/fingerprint-unicode": /fingerprint: 255 UTF-16 units instead of 2000/ },
    build: (inner) =>
      single(
        inner,
        wrap(inner, {
          claim: (key, claim) => inner.claim(key, { ...claim, fingerprint: claim.fingerprint.slice(0, 255) }),
        }),
      ),
  },
  {
    name: "fingerprint-loses-nul",
    breaks:
      "the fingerprint is returned as stored (this one drops NUL, as a C string or a PostgreSQL text would)",
    fails: { "claims/fingerprint-latin1": /fingerprint: 255 UTF-16 units instead of 256/ },
    build: (inner) =>
      single(
        inner,
        wrap(inner, {
          claim: (key, claim) =>
            inner.claim(key, { ...claim, fingerprint: claim.fingerprint.replaceAll("\u0000", "") }),
        }),
      ),
  },

  {
    name: "fingerprint-nul-rejected",
    breaks: "any fingerprint is stored (this one rejects NUL, as a PostgreSQL text parameter does)",
    fails: {
      "claims/fingerprint-latin1":
        /a claim with fingerprint every code point 0-255, NUL included .* rejected: .*invalid byte sequence for encoding "UTF8": 0x00/,
    },
    build: (inner) =>
      single(
        inner,
        wrap(inner, {
          async claim(key, claim) {
            if (claim.fingerprint.includes("\u0000")) {
              throw new Error('invalid byte sequence for encoding "UTF8": 0x00');
            }
            return inner.claim(key, claim);
          },
        }),
      ),
  },

  // completion
  {
    name: "replay-without-result",
    breaks: "a claim of a completed key returns the whole record (this one leaves the outcome bytes out)",
    fails: { "completion/stores-outcome": /the result has 0 bytes, expected 14/ },
    build: (inner) =>
      single(
        inner,
        wrap(inner, {
          async claim(key, claim) {
            const result = await inner.claim(key, claim);
            if (result.acquired || result.record.state !== "completed") return result;
            return { acquired: false, record: { ...result.record, result: new Uint8Array(0) } };
          },
        }),
      ),
  },
  {
    name: "get-completed-wrong-token",
    breaks: "get of a completed record returns the owner's token (this one loses it on completion)",
    fails: {
      "completion/completed-record":
        /get of the completed record: token "" instead of .*completing owner's token/,
    },
    build: (inner) =>
      single(
        inner,
        wrap(inner, { get: async (key) => rewriteCompleted(await inner.get(key), { token: "" }) }),
      ),
  },
  {
    name: "get-completed-wrong-fingerprint",
    breaks: "get of a completed record returns its claim's fingerprint (this one loses it on completion)",
    fails: {
      "completion/completed-record": /get of the completed record: fingerprint "" instead of "fp-second"/,
    },
    build: (inner) =>
      single(
        inner,
        wrap(inner, { get: async (key) => rewriteCompleted(await inner.get(key), { fingerprint: "" }) }),
      ),
  },
  {
    name: "get-completed-wrong-fence",
    breaks: "get of a completed record returns its fence (this one resets it to 1 on completion)",
    fails: {
      "completion/completed-record": /get of the completed record: fence 1 instead of 2/,
      "fences/survives-completion": /get of the completed takeover: fence 1 instead of 2/,
    },
    build: (inner) =>
      single(
        inner,
        wrap(inner, { get: async (key) => rewriteCompleted(await inner.get(key), { fence: 1 }) }),
      ),
  },
  {
    name: "completed-can-be-released",
    breaks: "release only ends a live in-progress lease (this one deletes a completed record for its owner)",
    fails: { "completion/once": /release of the completed key by its owner returned true, expected false/ },
    build: (inner) =>
      single(
        inner,
        wrap(inner, {
          async release(key, token) {
            if (await inner.release(key, token)) return true;
            const record = await inner.get(key);
            if (record?.state !== "completed" || record.token !== token) return false;
            await inner.delete(key);
            return true;
          },
        }),
      ),
  },
  {
    name: "retention-from-claim",
    breaks: "a completed record stays retentionMs from its completion (this one counts from the claim)",
    fails: {
      "completion/retention-from-completion": /retention must run from the completion, not from the claim/,
    },
    build: (inner) => {
      const { store, last } = tracked(inner);
      return single(
        inner,
        wrap(store, {
          async complete(key, token, outcome) {
            const since = now() - (last.get(key)?.at ?? now());
            // At least 1 ms: the memory store refuses a retention below that, and the break is the counting.
            const retentionMs = Math.max(1, outcome.retentionMs - since);
            return inner.complete(key, token, { ...outcome, retentionMs });
          },
        }),
      );
    },
  },

  // ownership
  {
    name: "complete-ignores-token",
    breaks: "complete is a compare-and-set on the owner token (this one completes any live lease)",
    fails: { "ownership/wrong-token": /complete with another token returned true, expected false/ },
    build: (inner) =>
      single(
        inner,
        wrap(inner, {
          async complete(key, token, outcome) {
            const record = await inner.get(key);
            return inner.complete(key, record?.state === "in_progress" ? record.token : token, outcome);
          },
        }),
      ),
  },
  {
    name: "release-ignores-token",
    breaks: "release is a compare-and-set on the owner token (this one releases any live lease)",
    fails: { "ownership/wrong-token": /release with another token returned true, expected false/ },
    build: (inner) =>
      single(
        inner,
        wrap(inner, {
          async release(key, token) {
            const record = await inner.get(key);
            return inner.release(key, record?.state === "in_progress" ? record.token : token);
          },
        }),
      ),
  },
  {
    name: "extend-ignores-token",
    breaks: "extend is a compare-and-set on the owner token (this one extends any live lease)",
    fails: { "ownership/wrong-token": /extend with another token returned true, expected false/ },
    build: (inner) =>
      single(
        inner,
        wrap(inner, {
          async extend(key, token, leaseMs) {
            const record = await inner.get(key);
            return inner.extend(key, record?.state === "in_progress" ? record.token : token, leaseMs);
          },
        }),
      ),
  },
  {
    name: "complete-creates-absent-key",
    breaks: "complete of a key nobody holds changes nothing (this one upserts the outcome)",
    fails: { "ownership/absent-key": /complete of a key never claimed returned true, expected false/ },
    build: (inner) => {
      const { store, last } = tracked(inner);
      return single(
        inner,
        wrap(store, {
          async complete(key, token, outcome) {
            if (!last.has(key) && (await inner.get(key)) === undefined) {
              await inner.claim(key, { token, fingerprint: "", leaseMs: 60_000, retentionMs: 60_000 });
            }
            return inner.complete(key, token, outcome);
          },
        }),
      );
    },
  },

  // release
  {
    name: "release-noop",
    breaks: "release makes the key absent at once (this one answers true and changes nothing)",
    fails: { "release/claimable": /get after the release: expected the key to read as absent/ },
    build: (inner) => single(inner, wrap(inner, { release: (key, token) => owns(inner, key, token) })),
  },
  {
    name: "release-deletes",
    breaks: "release keeps the record and its fence until keep-until (this one deletes the row)",
    fails: {
      "release/keeps-fence": /acquired with fence 1, expected fence 2/,
      "release/keeps-fence-after-takeover": /acquired with fence 1, expected fence 3/,
    },
    build: (inner) =>
      single(
        inner,
        wrap(inner, {
          async release(key, token) {
            if (!(await inner.release(key, token))) return false;
            await inner.delete(key);
            return true;
          },
        }),
      ),
  },
  {
    name: "purge-forgets-released",
    breaks: "a purge keeps a released record until its keep-until (this one purges released rows at once)",
    fails: { "release/keeps-fence": /acquired with fence 1, expected fence 2 \(.*purge/ },
    build: (inner) => {
      const released = new Set<string>();
      const store = wrap(inner, {
        async release(key, token) {
          const done = await inner.release(key, token);
          if (done) released.add(key);
          return done;
        },
      });
      return single(inner, store, async () => {
        for (const key of released) if ((await inner.get(key)) === undefined) await inner.delete(key);
        released.clear();
      });
    },
  },
  {
    name: "release-is-takeover",
    breaks: "a claim after a release is no takeover (this one cannot tell a release from an expired lease)",
    fails: { "release/keeps-fence": /acquired with takeover: true, expected takeover: false/ },
    build: (inner) => {
      const released = new Set<string>();
      return single(
        inner,
        wrap(inner, {
          async release(key, token) {
            const done = await inner.release(key, token);
            if (done) released.add(key);
            return done;
          },
          async claim(key, claim) {
            const result = await inner.claim(key, claim);
            if (!result.acquired || !released.delete(key)) return result;
            return { ...result, takeover: true };
          },
        }),
      );
    },
  },
  {
    name: "release-after-expiry",
    breaks: "release of a lease that already ended returns false (this one answers true for its last owner)",
    fails: {
      "release/expired-own-lease":
        /release by the owner after its lease ended .* returned true, expected false/,
    },
    build: (inner) => {
      const { store, last } = tracked(inner);
      return single(
        inner,
        wrap(store, {
          async release(key, token) {
            if (await inner.release(key, token)) return true;
            return last.get(key)?.token === token && (await inner.get(key)) === undefined;
          },
        }),
      );
    },
  },

  // extend
  {
    name: "extend-noop",
    breaks: "extend moves the lease end (this one answers true and changes nothing)",
    fails: {
      "extend/keeps-key":
        /extend by the owner at \+\d+ ms returned false|expected the claim to find the live record/,
    },
    build: (inner) => single(inner, wrap(inner, { extend: (key, token) => owns(inner, key, token) })),
  },
  {
    name: "extend-half-lease",
    breaks: "extend sets the lease to leaseMs from now (this one gives half)",
    fails: {
      "extend/lease-from-extend": /the key reads as undefined: the extended lease must end no earlier/,
    },
    build: (inner) =>
      single(inner, wrap(inner, { extend: (key, token, leaseMs) => inner.extend(key, token, leaseMs / 2) })),
  },
  {
    name: "extend-after-expiry",
    breaks: "extend of a lease that already ended returns false (this one revives it for its last owner)",
    fails: { "extend/expired": /extend by the owner after its lease ended .* returned true, expected false/ },
    build: (inner) => {
      const { store, revive } = tracked(inner);
      return single(
        inner,
        wrap(store, {
          async extend(key, token, leaseMs) {
            if (await inner.extend(key, token, leaseMs)) return true;
            return (await revive(key, token)) && inner.extend(key, token, leaseMs);
          },
        }),
      );
    },
  },

  // records
  {
    name: "delete-keeps-completed",
    breaks: "delete removes a record whatever its state (this one removes in-progress records only)",
    fails: {
      "records/get-delete": /get after deleting the completed key: expected the key to read as absent/,
    },
    build: (inner) =>
      single(
        inner,
        wrap(inner, {
          async delete(key) {
            if ((await inner.get(key))?.state === "completed") return true;
            return inner.delete(key);
          },
        }),
      ),
  },

  // clock
  {
    name: "deadlines-in-seconds",
    breaks: "deadlines are milliseconds since the epoch (this one returns seconds)",
    fails: {
      "clock/epoch-milliseconds": /leaseExpiresAt of the record a claim returns is \d+, expected about/,
    },
    build: (inner) =>
      single(
        inner,
        mapReads(inner, (record) =>
          record.state === "completed"
            ? { ...record, expiresAt: Math.floor(record.expiresAt / 1000) }
            : { ...record, leaseExpiresAt: Math.floor(record.leaseExpiresAt / 1000) },
        ),
      ),
  },
  {
    name: "lease-halved",
    breaks: "a lease lasts leaseMs (this one ends it halfway)",
    fails: { "clock/lease-length": /the key reads as undefined: the lease must not end before/ },
    build: (inner) =>
      single(
        inner,
        wrap(inner, { claim: (key, claim) => inner.claim(key, { ...claim, leaseMs: claim.leaseMs / 2 }) }),
      ),
  },

  // expiry
  {
    name: "lease-never-expires",
    breaks: "an expired lease reads as absent (this one's lease lasts a thousand times too long)",
    fails: { "expiry/lease-expiry": /expected the key to read as absent/ },
    build: (inner) =>
      single(
        inner,
        wrap(inner, { claim: (key, claim) => inner.claim(key, { ...claim, leaseMs: claim.leaseMs * 1000 }) }),
      ),
  },
  {
    name: "complete-after-expiry",
    breaks: "complete needs a live lease (this one completes a lease that ran out, if nobody took over)",
    fails: {
      "expiry/complete-expired":
        /complete by the owner after its lease ended .* returned true, expected false/,
    },
    build: (inner) => {
      const { store, revive } = tracked(inner);
      return single(
        inner,
        wrap(store, {
          async complete(key, token, outcome) {
            if (await inner.complete(key, token, outcome)) return true;
            return (await revive(key, token)) && inner.complete(key, token, outcome);
          },
        }),
      );
    },
  },
  {
    name: "completed-expires-with-lease",
    breaks:
      "a completed record is kept its own retention, however short the lease (this one keeps it only to the lease end)",
    fails: {
      "expiry/completed-outlives-lease": /expected the completed record, but the key reads as absent/,
    },
    build: (inner) =>
      single(
        inner,
        wrap(inner, {
          async complete(key, token, outcome) {
            const record = await inner.get(key);
            const left =
              record?.state === "in_progress" ? record.leaseExpiresAt - (performance.timeOrigin + now()) : 0;
            return inner.complete(key, token, {
              ...outcome,
              retentionMs: Math.min(outcome.retentionMs, left),
            });
          },
        }),
      ),
  },
  {
    name: "retention-ignored",
    breaks:
      "a completed record reads as absent once its retention ended (this one keeps it a thousand times longer)",
    fails: { "expiry/retention-expiry": /expected the key to read as absent/ },
    build: (inner) =>
      single(
        inner,
        wrap(inner, {
          complete: (key, token, outcome) =>
            inner.complete(key, token, { ...outcome, retentionMs: outcome.retentionMs * 1000 }),
        }),
      ),
  },
  {
    name: "empty-outcome-outlives-retention",
    breaks:
      "an empty outcome expires like any other (this claim's condition asks for outcome bytes, and its " +
      "retries find the record gone each time: a DynamoDB condition did that on dynalite)",
    fails: { "expiry/retention-expiry": /claim of key .*retention-0.* rejected: .*kept changing/ },
    build: (inner) => {
      const empty = new Set<string>();
      return single(
        inner,
        wrap(inner, {
          async complete(key, token, outcome) {
            const done = await inner.complete(key, token, outcome);
            if (done && outcome.result.byteLength === 0) empty.add(key);
            return done;
          },
          async claim(key, claim) {
            if (empty.has(key) && (await inner.get(key)) === undefined) {
              throw new Error(`claim: the item of key ${key} kept changing`);
            }
            return inner.claim(key, claim);
          },
        }),
      );
    },
  },
  {
    name: "takeover-from-fence",
    breaks: "takeover is true only when an expired, unreleased lease was replaced (this one says fence > 1)",
    fails: {
      "expiry/takeover-flag": /acquired with takeover: true, expected takeover: false/,
      "release/keeps-fence": /acquired with takeover: true, expected takeover: false/,
    },
    build: (inner) =>
      single(
        inner,
        wrap(inner, {
          async claim(key, claim) {
            const result = await inner.claim(key, claim);
            return result.acquired ? { ...result, takeover: result.fence > 1 } : result;
          },
        }),
      ),
  },
  {
    name: "takeover-always-false",
    breaks: "a claim that replaces an expired lease reports takeover: true (this one never does)",
    fails: { "expiry/lease-expiry": /acquired with takeover: false, expected takeover: true/ },
    build: (inner) =>
      single(
        inner,
        wrap(inner, {
          async claim(key, claim) {
            const result = await inner.claim(key, claim);
            return result.acquired ? { ...result, takeover: false } : result;
          },
        }),
      ),
  },
  {
    name: "takeover-not-stored",
    breaks: "the takeover flag is stored with the record and read back (this one returns false on reads)",
    fails: { "expiry/takeover-retry": /takeover false instead of true/ },
    build: (inner) =>
      single(
        inner,
        mapReads(inner, (record) =>
          record.state === "in_progress" ? { ...record, takeover: false } : record,
        ),
      ),
  },
  {
    name: "delete-expired-true",
    breaks: "delete returns true only when it removed a live record (this one says true for any row)",
    fails: { "expiry/delete-expired": /delete of a key whose lease ended returned true, expected false/ },
    build: (inner) => {
      const { store, last } = tracked(inner);
      return single(
        inner,
        wrap(store, { delete: async (key) => (await inner.delete(key)) || last.delete(key) }),
      );
    },
  },

  // fences
  {
    name: "keep-until-from-claim",
    breaks: "a record is kept retentionMs past its lease end (this one's purge counts from the claim)",
    fails: { "fences/kept-past-lease-end": /acquired with fence 1, expected fence 2/ },
    build: (inner) => purgeAfter(inner, (claim) => claim.at + claim.retentionMs),
  },
  {
    name: "extend-keeps-keep-until",
    breaks: "extend moves keep-until with the lease end (this one's purge uses the claim's keep-until)",
    fails: { "fences/extend-moves-keep-until": /acquired with fence 1, expected fence 2/ },
    build: (inner) => purgeAfter(inner, (claim) => claim.at + claim.leaseMs + claim.retentionMs),
  },
  {
    name: "completion-shortens-keep-until",
    breaks:
      "a completion only ever lengthens keep-until (this one's purge forgets a record when its retention ends)",
    fails: { "fences/completion-keeps-keep-until": /acquired with fence 1, expected fence 2/ },
    build: (inner) => {
      const ends = new Map<string, number>();
      const store = wrap(inner, {
        async complete(key, token, outcome) {
          const done = await inner.complete(key, token, outcome);
          if (done) ends.set(key, now() + outcome.retentionMs);
          return done;
        },
      });
      return single(inner, store, async () => {
        for (const [key, end] of ends) {
          if (end <= now() && (await inner.get(key)) === undefined) {
            await inner.delete(key);
            ends.delete(key);
          }
        }
      });
    },
  },

  {
    name: "purge-by-claim-keep-until",
    breaks:
      "a record is kept until its keep-until as extend and completion moved it (this one's purge deletes by the claim's)",
    fails: {
      "fences/purge-keeps-live":
        /a lease extended past its claim's keep-until, after a purge.*: expected the in_progress record, but the key reads as absent/,
    },
    build: (inner) => {
      const { store, last } = tracked(inner);
      return single(inner, store, async () => {
        for (const [key, claim] of last) {
          if (claim.at + claim.leaseMs + claim.retentionMs <= now()) {
            await inner.delete(key);
            last.delete(key);
          }
        }
      });
    },
  },

  // races
  {
    name: "check-then-set-claim",
    breaks: "a claim is one atomic conditional write (this one reads, then writes)",
    fails: {
      "races/claims": /\d+ of 50 concurrent claims acquired the key/,
      "races/takeovers": /\d+ of 50 concurrent claims acquired the key/,
    },
    build: (inner) => single(inner, wrap(inner, { claim: checkThenSet(inner, () => true) })),
  },
  {
    name: "check-then-set-takeover",
    breaks: "a takeover is one atomic conditional write (this one is atomic for new keys only)",
    fails: { "races/takeovers": /\d+ of 50 concurrent claims acquired the key/ },
    build: (inner) => {
      const seen = new Set<string>();
      const claim = checkThenSet(inner, (key) => seen.has(key));
      return single(
        inner,
        wrap(inner, {
          async claim(key, request) {
            const result = await claim(key, request);
            seen.add(key);
            return result;
          },
        }),
      );
    },
  },
  {
    name: "lost-race-rejects",
    breaks: "losing a race is acquired: false, never an error (this one surfaces a deadlock)",
    fails: {
      "races/claims": /concurrent claims of one new key rejected, first #\d+: Error: deadlock detected/,
    },
    build: (inner) => {
      const inFlight = new Map<string, number>();
      return single(
        inner,
        wrap(inner, {
          async claim(key, claim) {
            inFlight.set(key, (inFlight.get(key) ?? 0) + 1);
            try {
              const result = await inner.claim(key, claim);
              await tick();
              if (!result.acquired && (inFlight.get(key) ?? 0) > 1) throw new Error("deadlock detected");
              return result;
            } finally {
              inFlight.set(key, inFlight.get(key)! - 1);
            }
          },
        }),
      );
    },
  },
  {
    name: "check-then-set-complete",
    breaks: "complete is one compare-and-set (this one reads the owner, then writes)",
    fails: { "races/owner-completions": /\d+ of 20 concurrent completions by the owner returned true/ },
    build: (inner) => {
      const written = new Map<string, Uint8Array>();
      const store = mapReads(inner, (record, key) => {
        const result = written.get(key);
        return record.state === "completed" && result ? { ...record, result: result.slice() } : record;
      });
      return single(
        inner,
        wrap(store, {
          async complete(key, token, outcome) {
            if (!(await owns(inner, key, token))) return false;
            await tick();
            written.set(key, outcome.result.slice());
            await inner.complete(key, token, outcome);
            return true;
          },
        }),
      );
    },
  },
  {
    name: "per-instance-cache",
    breaks: "every instance reads the one live record (this one caches reads per instance)",
    fails: {
      "races/one-state":
        /get through instance 2 after the completion: state "in_progress", expected "completed"/,
    },
    build: (inner) => ({
      instance() {
        const cache = new Map<string, IdempotencyRecord>();
        const live = (record: IdempotencyRecord) =>
          (record.state === "completed" ? record.expiresAt : record.leaseExpiresAt) >
          performance.timeOrigin + now();
        const forget =
          <A extends [string, ...unknown[]], R>(method: (...args: A) => Promise<R>) =>
          (...args: A) => {
            cache.delete(args[0]);
            return method(...args);
          };
        return wrap(inner, {
          claim: forget(inner.claim.bind(inner)),
          complete: forget(inner.complete.bind(inner)),
          release: forget(inner.release.bind(inner)),
          extend: forget(inner.extend.bind(inner)),
          delete: forget(inner.delete.bind(inner)),
          async get(key) {
            const cached = cache.get(key);
            if (cached && live(cached)) return cached;
            const record = await inner.get(key);
            if (record) cache.set(key, record);
            return record;
          },
        });
      },
      purge: () => sweep(inner),
    }),
  },

  // keys
  keyStore(
    "key-nul-terminated",
    "distinct keys are distinct records (this one cuts keys at NUL, as C strings do)",
    { "keys/awkward": /keys #\d+ "nul\\u0000[ab]" and #\d+ "nul\\u0000[ab]".*merged them/ },
    (key) => key.split("\u0000")[0]!,
  ),
  keyStore(
    "key-percent-decoded",
    "distinct keys are distinct records (this one percent-decodes keys)",
    { "keys/awkward": /keys #\d+ "(%41|A)" and #\d+ "(%41|A)".*merged them/ },
    (key) =>
      key.replace(/%([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16))),
  ),
  keyStore(
    "key-nfc-normalised",
    "distinct keys are distinct records (this one normalises keys to NFC)",
    { "keys/unicode-normalisation": merged },
    (key) => key.normalize("NFC"),
  ),
  keyStore(
    "key-nfkc-normalised",
    "distinct keys are distinct records (this one normalises keys to NFKC)",
    { "keys/unicode-normalisation": merged },
    (key) => key.normalize("NFKC"),
  ),
  keyStore(
    "key-trailing-spaces-trimmed",
    "distinct keys are distinct records (this one ignores trailing spaces, as a PAD SPACE collation does)",
    { "keys/trailing-spaces": /keys #\d+ "a {0,2}" and #\d+ "a {0,2}".*merged them/ },
    (key) => key.replace(/ +$/, ""),
  ),
  keyStore(
    "key-case-folded",
    "distinct keys are distinct records (this one ignores case, as a case-insensitive collation does)",
    { "keys/case": merged },
    (key) => key.toLowerCase(),
  ),
  keyStore(
    "key-escape-ambiguous",
    "distinct keys are distinct records (this one escapes NUL as \\u0000 but leaves backslashes alone)",
    { "keys/escapes": /"nul\\u0000" and #\d+ "nul\\\\u0000"|"nul\\\\u0000" and #\d+ "nul\\u0000"/ },
    (key) => key.replaceAll("\u0000", "\\u0000"),
  ),
  keyStore(
    "key-truncated",
    "distinct keys are distinct records (this one keeps the first 1024 characters)",
    {
      "keys/long-4096-random": /differs only in its (middle|last) character reached one record/,
      "keys/long-8kb": /differs only in its (middle|last) character reached one record/,
      "keys/long-32k-random": /differs only in its (middle|last) character reached one record/,
    },
    (key) => key.slice(0, 1024),
  ),

  // bytes
  {
    name: "result-through-utf8",
    breaks: "outcome bytes round-trip exactly (this one stores them as UTF-8 text)",
    fails: {
      "bytes/round-trip-all-byte-values": /the result (has \d+ bytes, expected 256|differs)/,
      "bytes/round-trip-invalid-utf8": /the result (has \d+ bytes, expected 8|differs)/,
    },
    build: (inner) =>
      single(
        inner,
        wrap(inner, {
          complete: (key, token, outcome) =>
            inner.complete(key, token, {
              ...outcome,
              result: new TextEncoder().encode(new TextDecoder().decode(outcome.result)),
            }),
        }),
      ),
  },
  {
    name: "empty-result-as-null",
    breaks: "an empty outcome round-trips (this one reads it back as NULL)",
    fails: { "bytes/round-trip-empty": /the result is null, not a Uint8Array/ },
    build: (inner) =>
      single(
        inner,
        mapReads(inner, (record) =>
          record.state === "completed" && record.result.length === 0
            ? { ...record, result: null as unknown as Uint8Array }
            : record,
        ),
      ),
  },
  {
    name: "result-capped-64KiB",
    breaks: "outcomes of several MiB round-trip (this one keeps 65,535 bytes, a MySQL BLOB)",
    fails: { "bytes/round-trip-1mib": /the result has 65535 bytes, expected 1048576/ },
    build: (inner) =>
      single(
        inner,
        wrap(inner, {
          complete: (key, token, outcome) =>
            inner.complete(key, token, { ...outcome, result: outcome.result.slice(0, 65_535) }),
        }),
      ),
  },
  {
    name: "rejects-large-outcome",
    breaks: "outcomes of several MiB round-trip (this one refuses more than 2 MiB)",
    fails: { "bytes/round-trip-4mib": /exceeds maximum allowed size/ },
    build: (inner) =>
      single(
        inner,
        wrap(inner, {
          async complete(key, token, outcome) {
            if (outcome.result.length > 2 * 1024 * 1024)
              throw new Error("ERR string exceeds maximum allowed size");
            return inner.complete(key, token, outcome);
          },
        }),
      ),
  },
  {
    name: "over-limit-lost",
    breaks: "an outcome over the declared limit rejects (this one answers false, as if the lease was lost)",
    fails: { "bytes/over-limit": /resolved false: it must reject/ },
    build: (inner) => ({
      ...single(
        inner,
        wrap(inner, {
          complete: async (key, token, outcome) =>
            outcome.result.byteLength > KiB64 ? false : inner.complete(key, token, outcome),
        }),
      ),
      outcomeBytes: KiB64,
    }),
  },
  {
    name: "truncates-below-limit",
    breaks:
      "a store holds outcomes up to its declared limit (this one declares 64 KiB and keeps the first 60 KiB)",
    fails: {
      "bytes/round-trip-at-limit": /the result has 61440 bytes, expected 65536/,
      "bytes/round-trip-below-limit": /the result has 61440 bytes, expected 65535/,
    },
    build: (inner) => ({
      ...single(
        inner,
        limited(
          wrap(inner, {
            complete: (key, token, outcome) =>
              inner.complete(key, token, { ...outcome, result: outcome.result.slice(0, 60 * 1024) }),
          }),
          KiB64,
        ),
      ),
      outcomeBytes: KiB64,
    }),
  },
  {
    name: "limit-exclusive",
    breaks: "an outcome of exactly the declared limit fits (this one rejects it: >= where > was meant)",
    fails: { "bytes/round-trip-at-limit": /complete of key .* rejected: .*65536 bytes or more/ },
    build: (inner) => ({
      ...single(
        inner,
        wrap(inner, {
          async complete(key, token, outcome) {
            if (outcome.result.byteLength >= KiB64) throw new Error(`the outcome is ${KiB64} bytes or more`);
            return inner.complete(key, token, outcome);
          },
        }),
      ),
      outcomeBytes: KiB64,
    }),
  },
  {
    name: "keeps-caller-buffer",
    breaks: "the store keeps the outcome as given (this one keeps the caller's buffer, not a copy)",
    fails: { "bytes/copied-on-complete": /after the caller overwrote its buffer/ },
    build: (inner) => {
      const held = new Map<string, Uint8Array>();
      const store = mapReads(inner, (record, key) =>
        record.state === "completed" && held.has(key) ? { ...record, result: held.get(key)! } : record,
      );
      return single(
        inner,
        wrap(store, {
          async complete(key, token, outcome) {
            const done = await inner.complete(key, token, outcome);
            if (done) held.set(key, outcome.result);
            return done;
          },
        }),
      );
    },
  },
  {
    name: "shares-stored-buffer",
    breaks: "reads return bytes of their own (this one hands every reader the same buffer)",
    fails: { "bytes/copied-on-read": /after a caller overwrote the result of an earlier get/ },
    build: (inner) => {
      const shared = new Map<string, Uint8Array>();
      return single(
        inner,
        mapReads(inner, (record, key) => {
          if (record.state !== "completed") return record;
          if (!shared.has(key)) shared.set(key, record.result);
          return { ...record, result: shared.get(key)! };
        }),
      );
    },
  },
  {
    name: "stores-whole-arraybuffer",
    breaks: "a view's bytes are stored (this one stores its whole underlying ArrayBuffer)",
    fails: { "bytes/view": /the result has 256 bytes, expected 13/ },
    build: (inner) =>
      single(
        inner,
        wrap(inner, {
          complete: (key, token, outcome) =>
            inner.complete(key, token, { ...outcome, result: new Uint8Array(outcome.result.buffer) }),
        }),
      ),
  },
];

function rewriteCompleted(record: IdempotencyRecord | undefined, change: Partial<IdempotencyRecord>) {
  return record?.state === "completed" ? ({ ...record, ...change } as IdempotencyRecord) : record;
}

/** A subject whose purge also deletes records past the wrong keep-until `until(claim)`. */
function purgeAfter(inner: MemoryStore, until: (claim: Claimed) => number): Subject {
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
function checkThenSet(inner: IdempotencyStore, racy: (key: string) => boolean) {
  return async (key: string, claim: ClaimRequest): Promise<ClaimResult> => {
    if (!racy(key) || (await inner.get(key)) !== undefined) return inner.claim(key, claim);
    await tick();
    const current = await inner.get(key);
    // The blind write: whoever holds the key now is overwritten.
    if (current?.state === "in_progress") await inner.release(key, current.token);
    return inner.claim(key, claim);
  };
}

export { createMemoryStore };
