import { expectAbsent, expectAcquired, expectBoolean, expectLost, expectRecord } from "../assertions.js";
import { clock, group, RETENTION_MS, sleep, utf8 } from "../context.js";
import { onTime } from "../on-time.js";

/**
 * Fences grow while a record is kept, and a record is kept until its keep-until: `retentionMs` past its
 * lease end (moved by every extend), or the completion's retention if later (store.ts, `claim`,
 * `ClaimRequest.retentionMs`). Each check runs the store's purge before the claim that must see the
 * fence, so a store that forgets early fails instead of passing because its cleanup did not run.
 */
export const fences = group("fences", [
  [
    "kept-past-lease-end",
    "a record is kept retentionMs past its lease end, even with a retention shorter than the lease: a takeover after its purge gets fence 2",
    (t) =>
      onTime(t.toleranceMs, async (inTime) => {
        // "Retention 60 s, lease 5 min", scaled down.
        const leaseMs = 4 * t.leaseMs;
        const retentionMs = 2 * t.leaseMs;
        const key = t.key("short-retention");
        const stalled = t.shortClaim({ leaseMs, retentionMs });
        const claimedAt = clock();
        expectAcquired(
          await t.store.claim(key, stalled),
          { fence: 1, takeover: false },
          "the stalled owner's claim",
        );
        await t.waitPast(leaseMs);
        expectAbsent(await t.store.get(key), "get after the lease ended");
        await t.purge();
        inTime(claimedAt, leaseMs + retentionMs, "the takeover");
        expectAcquired(
          await t.store.claim(key, t.shortClaim({ leaseMs, retentionMs })),
          {
            fence: 2,
            takeover: true,
            fenceWhy: `the stalled owner's record (fence 1) must be kept ${retentionMs} ms past its lease end, purge or not`,
          },
          `the takeover ${t.toleranceMs} ms after the lease ended, after a purge`,
        );
        const stale = { result: utf8("stale"), retentionMs: RETENTION_MS };
        expectBoolean(
          await t.store.complete(key, stalled.token, stale),
          false,
          "complete by the stalled owner",
        );
      }),
  ],
  [
    "extend-moves-keep-until",
    "extend moves keep-until with the lease end: a takeover after the extended lease and a purge gets fence 2",
    (t) =>
      onTime(t.toleranceMs, async (inTime) => {
        const leaseMs = 4 * t.leaseMs;
        const retentionMs = 2 * t.leaseMs;
        const key = t.key("short-retention-extend");
        const stalled = t.shortClaim({ leaseMs, retentionMs });
        const claimedAt = clock();
        expectAcquired(await t.store.claim(key, stalled), { fence: 1, takeover: false }, "the owner's claim");
        // Late enough that the extended lease ends after the claim's own keep-until.
        await sleep(2.5 * t.leaseMs);
        inTime(claimedAt, leaseMs, "the extend");
        const extendedAt = clock();
        expectBoolean(await t.store.extend(key, stalled.token, leaseMs), true, "extend by the owner");
        await t.waitPast(leaseMs);
        expectAbsent(await t.store.get(key), "get after the extended lease ended");
        await t.purge();
        inTime(extendedAt, leaseMs + retentionMs, "the takeover");
        expectAcquired(
          await t.store.claim(key, t.shortClaim({ leaseMs, retentionMs })),
          {
            fence: 2,
            takeover: true,
            fenceWhy: `the record must be kept ${retentionMs} ms past its extended lease end; fence 1 means keep-until stayed where the claim put it`,
          },
          "the takeover after the extended lease ended, after a purge",
        );
      }),
  ],
  [
    "completion-keeps-keep-until",
    "a completion never shortens keep-until: a claim after a short completion retention ended and a purge gets fence 2",
    async (t) => {
      const key = t.key("completion-keep-until");
      const owner = t.claim();
      expectAcquired(await t.store.claim(key, owner), { fence: 1, takeover: false }, "the claim");
      // The claim keeps the record until its lease end + retentionMs (minutes away); the completion's own
      // retention ends long before.
      const outcome = { result: utf8("short"), retentionMs: t.leaseMs };
      expectBoolean(
        await t.store.complete(key, owner.token, outcome),
        true,
        "complete with a short retention",
      );
      await t.waitPast(t.leaseMs);
      expectAbsent(await t.store.get(key), "get after the completion's retention ended");
      await t.purge();
      expectAcquired(
        await t.store.claim(key, t.claim()),
        {
          fence: 2,
          takeover: false,
          fenceWhy:
            "the record (fence 1) is kept until the later of its claim's keep-until and its retention end: a completion with a short retention must not shorten it",
        },
        "the claim after the completion's retention ended, after a purge",
      );
    },
  ],
  [
    "purge-keeps-live",
    "a purge never removes a live record: a lease extended past its claim's keep-until, a completion retained past it",
    (t) =>
      onTime(t.toleranceMs, async (inTime) => {
        // Both claims keep their record only to their lease end (retentionMs 0); at once one is extended
        // and the other completed with a long retention, which moves their keep-until later.
        const leased = t.key("purge-live-lease");
        const owner = t.shortClaim({ retentionMs: 0 });
        const claimedAt = clock();
        const claimed = await t.store.claim(leased, owner);
        expectAcquired(claimed, { fence: 1, takeover: false }, "the claim to extend");
        inTime(claimedAt, t.leaseMs, "the extend");
        const extendedAt = clock();
        const extended = await t.store.extend(leased, owner.token, 4 * t.leaseMs);
        expectBoolean(extended, true, "extend by the owner right after its claim");
        const completed = t.key("purge-live-completed");
        const done = t.shortClaim({ retentionMs: 0 });
        const doneClaimedAt = clock();
        expectAcquired(
          await t.store.claim(completed, done),
          { fence: 1, takeover: false },
          "the claim to complete",
        );
        const outcome = { result: utf8("kept"), retentionMs: RETENTION_MS };
        inTime(doneClaimedAt, t.leaseMs, "the completion");
        const stored = await t.store.complete(completed, done.token, outcome);
        expectBoolean(stored, true, "complete with a long retention right after its claim");
        // Past both claims' own keep-until (their first lease end), well before the new ones.
        await t.waitPast(t.leaseMs);
        await t.purge();
        inTime(extendedAt, 4 * t.leaseMs, "the get of the extended lease");
        expectRecord(
          await t.store.get(leased),
          { state: "in_progress", token: owner.token, fence: 1 },
          "a lease extended past its claim's keep-until, after a purge (a purge must judge by the keep-until extend moved)",
        );
        expectRecord(
          await t.store.get(completed),
          { state: "completed", token: done.token, result: utf8("kept") },
          "a completed record whose retention outlasts its claim's keep-until, after a purge (completion moves keep-until to its retention end)",
        );
      }),
  ],
  [
    "survives-completion",
    "the fence survives completion: a completed takeover keeps the takeover's fence",
    async (t) => {
      const key = t.key("complete-fence");
      await t.store.claim(key, t.shortClaim());
      await t.waitPast(t.leaseMs);
      const second = t.claim();
      expectAcquired(await t.store.claim(key, second), { fence: 2, takeover: true }, "the takeover");
      const outcome = { result: utf8("done"), retentionMs: RETENTION_MS };
      expectBoolean(await t.store.complete(key, second.token, outcome), true, "complete by the new owner");
      const expected = { state: "completed", token: second.token, fence: 2 } as const;
      expectRecord(await t.store.get(key), expected, "get of the completed takeover");
      expectRecord(
        expectLost(await t.store.claim(key, t.claim()), "a later claim"),
        expected,
        "the record a later claim returns",
      );
    },
  ],
]);
