import { type BrokenStore, mapAcquired, mapReads, now, single, wrapped, wrappedTracked } from "./support.js";

/** Broken stores the `expiry` checks catch. */
export const expiry: BrokenStore[] = [
  {
    name: "lease-never-expires",
    breaks: "an expired lease reads as absent (this one's lease lasts a thousand times too long)",
    fails: { "expiry/lease-expiry": /expected the key to read as absent/ },
    build: (inner) =>
      wrapped(inner, {
        claim: (key, claim) => inner.claim(key, { ...claim, leaseMs: claim.leaseMs * 1000 }),
      }),
  },
  {
    name: "complete-after-expiry",
    breaks: "complete needs a live lease (this one completes a lease that ran out, if nobody took over)",
    fails: {
      "expiry/complete-expired":
        /complete by the owner after its lease ended .* returned true, expected false/,
    },
    build: (inner) =>
      wrappedTracked(inner, ({ revive }) => ({
        async complete(key, token, outcome) {
          if (await inner.complete(key, token, outcome)) return true;
          return (await revive(key, token)) && inner.complete(key, token, outcome);
        },
      })),
  },
  {
    name: "completed-expires-with-lease",
    breaks:
      "a completed record is kept its own retention, however short the lease (this one keeps it only to the lease end)",
    fails: {
      "expiry/completed-outlives-lease": /expected the completed record, but the key reads as absent/,
    },
    build: (inner) =>
      wrapped(inner, {
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
  },
  {
    name: "retention-ignored",
    breaks:
      "a completed record reads as absent once its retention ended (this one keeps it a thousand times longer)",
    fails: { "expiry/retention-expiry": /expected the key to read as absent/ },
    build: (inner) =>
      wrapped(inner, {
        complete: (key, token, outcome) =>
          inner.complete(key, token, { ...outcome, retentionMs: outcome.retentionMs * 1000 }),
      }),
  },
  {
    name: "empty-outcome-outlives-retention",
    breaks:
      "an empty outcome expires like any other (this claim's condition asks for outcome bytes, and its " +
      "retries find the record gone each time: a DynamoDB condition did that on dynalite)",
    fails: { "expiry/retention-expiry": /claim of key .*retention-0.* rejected: .*kept changing/ },
    build: (inner) => {
      const empty = new Set<string>();
      return wrapped(inner, {
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
      });
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
        mapAcquired(inner, (acquired) => ({ ...acquired, takeover: acquired.fence > 1 })),
      ),
  },
  {
    name: "takeover-always-false",
    breaks: "a claim that replaces an expired lease reports takeover: true (this one never does)",
    fails: { "expiry/lease-expiry": /acquired with takeover: false, expected takeover: true/ },
    build: (inner) =>
      single(
        inner,
        mapAcquired(inner, (acquired) => ({ ...acquired, takeover: false })),
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
    build: (inner) =>
      wrappedTracked(inner, ({ last }) => ({
        delete: async (key) => (await inner.delete(key)) || last.delete(key),
      })),
  },
];
