import { wrap } from "../harness.js";
import { type BrokenStore, now, purgeAfter, single, tracked } from "./support.js";

/** Broken stores the `fences` checks catch. */
export const fences: BrokenStore[] = [
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
];
