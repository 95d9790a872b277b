import {
  expectAbsent,
  expectAcquired,
  expectBoolean,
  expectLost,
  expectRecord,
  fail,
  show,
} from "../assertions.js";
import { group, RETENTION_MS, utf8 } from "../context.js";

/**
 * Expired = absent in every operation (store.ts, "Expiry"), and the `takeover` flag of a claim that
 * replaces an expired lease. The only checks that wait out the short lease.
 */
export const expiry = group("expiry", [
  [
    "lease-expiry",
    "lease expiry makes the key claimable with a new token and a higher fence; the old token loses",
    async (t) => {
      const key = t.key();
      const stale = t.shortClaim({ fingerprint: "fp-lease" });
      await t.store.claim(key, stale);
      await t.waitPast(t.leaseMs);
      expectAbsent(
        await t.store.get(key),
        `get ${t.leaseMs} ms + tolerance after a ${t.leaseMs} ms lease began`,
      );
      const fresh = t.claim({ fingerprint: "fp-lease" });
      expectAcquired(
        await t.store.claim(key, fresh),
        { fence: 2, takeover: true, takeoverWhy: "it replaced a lease that ran out unreleased" },
        "the claim after the lease ended",
      );
      const outcome = (text: string) => ({ result: utf8(text), retentionMs: RETENTION_MS });
      expectBoolean(
        await t.store.complete(key, stale.token, outcome("stale")),
        false,
        "complete by the old owner",
      );
      expectBoolean(await t.store.extend(key, stale.token, 60_000), false, "extend by the old owner");
      expectBoolean(await t.store.release(key, stale.token), false, "release by the old owner");
      expectBoolean(
        await t.store.complete(key, fresh.token, outcome("fresh")),
        true,
        "complete by the new owner",
      );
      expectBoolean(
        await t.store.complete(key, stale.token, outcome("stale")),
        false,
        "complete by the old owner after the new one completed",
      );
      expectRecord(
        await t.store.get(key),
        { state: "completed", token: fresh.token, fence: 2, result: utf8("fresh") },
        "the completed record",
        new Map([
          [stale.token, "the expired owner's token"],
          [fresh.token, "the new owner's token"],
        ]),
      );
    },
  ],
  [
    "complete-expired",
    "complete after the lease expired, with nobody taking over, returns false",
    async (t) => {
      const key = t.key();
      const owner = t.shortClaim();
      await t.store.claim(key, owner);
      await t.waitPast(t.leaseMs);
      expectBoolean(
        await t.store.complete(key, owner.token, { result: utf8("late"), retentionMs: RETENTION_MS }),
        false,
        "complete by the owner after its lease ended (nobody took over)",
        "the lease was lost: another caller may already be running the work",
      );
      expectAbsent(await t.store.get(key), "get after that completion");
    },
  ],
  [
    "completed-outlives-lease",
    "a completed record outlives the lease: still replayable after leaseMs, via get and claim",
    async (t) => {
      const key = t.key("retention");
      const owner = t.shortClaim({ fingerprint: "fp-retained" });
      await t.store.claim(key, owner);
      const outcome = { result: utf8("kept"), retentionMs: RETENTION_MS };
      expectBoolean(await t.store.complete(key, owner.token, outcome), true, "complete by the owner");
      await t.waitPast(t.leaseMs);
      const expected = {
        state: "completed",
        token: owner.token,
        fingerprint: "fp-retained",
        result: utf8("kept"),
      } as const;
      const when = `${t.leaseMs} ms + tolerance after a ${t.leaseMs} ms lease was completed with retentionMs ${RETENTION_MS}`;
      expectRecord(await t.store.get(key), expected, `get ${when}`);
      expectRecord(
        expectLost(await t.store.claim(key, t.claim()), `a claim ${when}`),
        expected,
        `a claim ${when}`,
      );
    },
  ],
  [
    "retention-expiry",
    "retention expiry makes a completed key absent and claimable, an empty outcome's too",
    async (t) => {
      // An empty outcome is a value like any other: a store that tests "has an outcome" by its length
      // would keep such a key past its retention.
      const outcomes = [
        ['"short"', utf8("short")],
        ["empty", new Uint8Array(0)],
      ] as const;
      const keys = await Promise.all(
        outcomes.map(async ([name, result]) => {
          const key = t.key(`retention-${result.byteLength}`);
          const owner = t.claim();
          await t.store.claim(key, owner);
          await t.store.complete(key, owner.token, { result, retentionMs: t.leaseMs });
          expectRecord(
            await t.store.get(key),
            { state: "completed", result },
            `get right after a completion with the ${name} outcome`,
          );
          return key;
        }),
      );
      await t.waitPast(t.leaseMs);
      for (const [index, key] of keys.entries()) {
        const after = `the retention of ${t.leaseMs} ms + tolerance of the ${outcomes[index]?.[0]} outcome`;
        expectAbsent(await t.store.get(key), `get after ${after}`);
        const next = await t.store.claim(key, t.claim());
        if (!next.acquired) fail(`a claim after ${after} did not acquire: it found ${show(next.record)}`);
        if (next.takeover !== false) {
          fail(
            `a claim after ${after} returned takeover: ${show(next.takeover)}: a completed record is no abandoned lease`,
          );
        }
      }
    },
  ],
  [
    "takeover-flag",
    "the takeover flag: true only for a claim that replaces an expired lease nobody released",
    async (t) => {
      const key = t.key("takeover-flag");
      const first = t.claim();
      expectAcquired(await t.store.claim(key, first), { fence: 1, takeover: false }, "the first claim");
      // A retried claim of the owner's own live record acquires nothing, so it is no takeover either.
      expectLost(await t.store.claim(key, first), "the first claim retried with its token");
      expectBoolean(await t.store.release(key, first.token), true, "release");
      const second = t.shortClaim();
      expectAcquired(
        await t.store.claim(key, second),
        {
          fence: 2,
          takeover: false,
          takeoverWhy: "a fence above 1 is no sign of a takeover: the key was released",
        },
        "the claim after the release",
      );
      await t.waitPast(t.leaseMs);
      const third = t.claim();
      expectAcquired(
        await t.store.claim(key, third),
        { fence: 3, takeover: true, takeoverWhy: "the second owner's lease ran out unreleased" },
        "the claim after the second lease expired",
      );
      const outcome = { result: utf8("done"), retentionMs: t.leaseMs };
      expectBoolean(await t.store.complete(key, third.token, outcome), true, "complete by the third owner");
      await t.waitPast(t.leaseMs);
      expectAcquired(
        await t.store.claim(key, t.claim()),
        { fence: 4, takeover: false, takeoverWhy: "it replaced a completed record whose retention ended" },
        "the claim after the completion's retention ended",
      );
    },
  ],
  [
    "takeover-retry",
    "a retried claim with the same token after a takeover returns its record with takeover: true",
    async (t) => {
      const key = t.key("takeover-retry");
      expectAcquired(
        await t.store.claim(key, t.shortClaim()),
        { fence: 1, takeover: false },
        "the first claim",
      );
      await t.waitPast(t.leaseMs);
      const owner = t.claim();
      expectAcquired(await t.store.claim(key, owner), { fence: 2, takeover: true }, "the takeover");
      // The reply was lost: the retry with the same token learns the takeover from the record.
      const retried = expectLost(await t.store.claim(key, owner), "the takeover retried with its token");
      const mine = { state: "in_progress", token: owner.token, fence: 2, takeover: true } as const;
      expectRecord(
        retried,
        mine,
        "the record the retried takeover returns (its takeover flag is stored with it)",
      );
      expectRecord(await t.store.get(key), mine, "get of the taken-over record");
      // Another caller sees the flag too; extend keeps it.
      expectRecord(
        expectLost(await t.store.claim(key, t.claim()), "another claim"),
        mine,
        "the record another claim sees",
      );
      expectBoolean(
        await t.store.extend(key, owner.token, t.claim().leaseMs),
        true,
        "extend by the new owner",
      );
      expectRecord(await t.store.get(key), mine, "get after the extend");
      // Released, the next claim is a fresh one: its record says takeover: false.
      expectBoolean(await t.store.release(key, owner.token), true, "release");
      const next = t.claim();
      expectAcquired(
        await t.store.claim(key, next),
        { fence: 3, takeover: false },
        "the claim after the release",
      );
      const again = expectLost(await t.store.claim(key, next), "that claim retried with its token");
      expectRecord(
        again,
        { state: "in_progress", token: next.token, fence: 3, takeover: false },
        "its record",
      );
    },
  ],
  [
    "delete-expired",
    "delete of an expired record returns false (expired lease, ended retention)",
    async (t) => {
      const leased = t.key("delete-expired-lease");
      await t.store.claim(leased, t.shortClaim());
      const completed = t.key("delete-expired-retention");
      const owner = t.claim();
      await t.store.claim(completed, owner);
      const outcome = { result: utf8("x"), retentionMs: t.leaseMs };
      expectBoolean(await t.store.complete(completed, owner.token, outcome), true, "complete");
      await t.waitPast(t.leaseMs);
      const why = "delete reports whether it removed a live record, and an expired one reads as absent";
      expectBoolean(await t.store.delete(leased), false, "delete of a key whose lease ended", why);
      expectBoolean(
        await t.store.delete(completed),
        false,
        "delete of a completed key whose retention ended",
        why,
      );
      expectAbsent(await t.store.get(leased), "get after the delete");
      expectAbsent(await t.store.get(completed), "get after the delete");
      const next = await t.store.claim(leased, t.claim());
      if (!next.acquired) fail(`a claim after the delete did not acquire: it found ${show(next.record)}`);
    },
  ],
]);
