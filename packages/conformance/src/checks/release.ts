import { expectAbsent, expectAcquired, expectBoolean, expectRecord, fail, show } from "../assertions.js";
import { group, RETENTION_MS, utf8 } from "../context.js";

/** `release`: compare-and-set give-up that ends the lease at once and keeps the fence. */
export const release = group("release", [
  [
    "claimable",
    "release makes the key claimable again",
    async (t) => {
      const key = t.key();
      const owner = t.claim();
      await t.store.claim(key, owner);
      expectBoolean(await t.store.release(key, owner.token), true, "release by the owner");
      expectAbsent(await t.store.get(key), "get after the release", "a released key reads as absent at once");
      const next = await t.store.claim(key, t.claim());
      if (!next.acquired) {
        fail(`a claim right after the release did not acquire the key: it found ${show(next.record)}`);
      }
    },
  ],
  [
    "keeps-fence",
    "release keeps the fence: claim, release, purge, claim gets fence 2 (no takeover)",
    async (t) => {
      const key = t.key("release-fence");
      const first = t.claim();
      expectAcquired(await t.store.claim(key, first), { fence: 1, takeover: false }, "the first claim");
      expectBoolean(await t.store.release(key, first.token), true, "release by the owner");
      expectAbsent(await t.store.get(key), "get after the release");
      expectBoolean(await t.store.release(key, first.token), false, "a second release by the same token");
      expectBoolean(await t.store.extend(key, first.token, t.leaseMs), false, "extend after the release");
      const late = { result: utf8("late"), retentionMs: RETENTION_MS };
      expectBoolean(await t.store.complete(key, first.token, late), false, "complete after the release");
      // The released record's keep-until is the claim's lease end + retentionMs (minutes away): a purge
      // must keep it.
      await t.purge();
      expectAcquired(
        await t.store.claim(key, t.claim()),
        {
          fence: 2,
          takeover: false,
          fenceWhy:
            "the released record and its fence 1 are kept until its keep-until, purge or not: fence 1 again means the release or the purge forgot it",
          takeoverWhy: "a released lease is no takeover",
        },
        "the claim after the release and a purge",
      );
    },
  ],
  [
    "keeps-fence-after-takeover",
    "release after a takeover keeps the fence: expire, takeover (2), release, claim gets fence 3 (no takeover)",
    async (t) => {
      const key = t.key("takeover-release-fence");
      expectAcquired(
        await t.store.claim(key, t.shortClaim()),
        { fence: 1, takeover: false },
        "the first claim",
      );
      await t.waitPast(t.leaseMs);
      const second = t.claim();
      expectAcquired(
        await t.store.claim(key, second),
        { fence: 2, takeover: true },
        "the takeover of the expired lease",
      );
      expectBoolean(await t.store.release(key, second.token), true, "release by the new owner");
      expectAbsent(await t.store.get(key), "get after the release");
      expectAcquired(
        await t.store.claim(key, t.claim()),
        { fence: 3, takeover: false, fenceWhy: "one more than the released takeover's fence 2" },
        "the claim after the release",
      );
    },
  ],
  [
    "expired-own-lease",
    "release of one's own lease after it expired, with nobody taking over, returns false; the next claim is a takeover",
    async (t) => {
      const key = t.key("late-release");
      const owner = t.shortClaim();
      expectAcquired(await t.store.claim(key, owner), { fence: 1, takeover: false }, "the claim");
      await t.waitPast(t.leaseMs);
      expectBoolean(
        await t.store.release(key, owner.token),
        false,
        "release by the owner after its lease ended (nobody took over)",
        "the lease was already lost: only a live lease is released (store.ts, release)",
      );
      expectAbsent(await t.store.get(key), "get after that release");
      expectAcquired(
        await t.store.claim(key, t.claim()),
        {
          fence: 2,
          takeover: true,
          takeoverWhy: "the lease ran out unreleased; a late release must not turn it into a release",
        },
        "the next claim",
      );
      expectRecord(
        await t.store.get(key),
        { state: "in_progress", fence: 2, takeover: true },
        "get of the new owner's record",
      );
    },
  ],
]);
