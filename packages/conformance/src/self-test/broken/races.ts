import type { IdempotencyRecord } from "@idemkit/core";
import { sweep, wrap } from "../harness.js";
import { type BrokenStore, checkThenSet, mapReads, now, owns, single, tick, wrapped } from "./support.js";

/** Broken stores the `races` checks catch. */
export const races: BrokenStore[] = [
  {
    name: "check-then-set-claim",
    breaks: "a claim is one atomic conditional write (this one reads, then writes)",
    fails: {
      "races/claims": /\d+ of 50 concurrent claims acquired the key/,
      "races/takeovers": /\d+ of 50 concurrent claims acquired the key/,
    },
    build: (inner) => wrapped(inner, { claim: checkThenSet(inner, () => true) }),
  },
  {
    name: "check-then-set-takeover",
    breaks: "a takeover is one atomic conditional write (this one is atomic for new keys only)",
    fails: { "races/takeovers": /\d+ of 50 concurrent claims acquired the key/ },
    build: (inner) => {
      const seen = new Set<string>();
      const claim = checkThenSet(inner, (key) => seen.has(key));
      return wrapped(inner, {
        async claim(key, request) {
          const result = await claim(key, request);
          seen.add(key);
          return result;
        },
      });
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
      return wrapped(inner, {
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
      });
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
];
