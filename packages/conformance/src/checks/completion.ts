import { expectAcquired, expectBoolean, expectLost, expectRecord, fail, show } from "../assertions.js";
import { clock, group, RETENTION_MS, sleepUntil, utf8 } from "../context.js";

/** `complete`: compare-and-set on the owner token that stores the outcome and starts retention. */
export const completion = group("completion", [
  [
    "stores-outcome",
    "complete stores the outcome; a later claim returns the exact bytes, fingerprint and fence",
    async (t) => {
      const key = t.key();
      const owner = t.claim({ fingerprint: "fp-complete" });
      await t.store.claim(key, owner);
      const result = utf8('{"status":201}');
      expectBoolean(
        await t.store.complete(key, owner.token, { result, retentionMs: RETENTION_MS }),
        true,
        "complete by the owner",
      );
      const replay = expectLost(await t.store.claim(key, t.claim()), "a claim of the completed key");
      const expected = {
        state: "completed",
        token: owner.token,
        fingerprint: "fp-complete",
        fence: 1,
        result,
      } as const;
      expectRecord(replay, expected, "the completed record a later claim returns");
      expectRecord(await t.store.get(key), expected, "get of the completed record");
    },
  ],
  [
    "completed-record",
    "get and claim of a completed record return the completing owner's token, its claim's fingerprint and fence, and the bytes",
    async (t) => {
      // Two owners, so that a store returning the first one's token, fingerprint or fence is caught.
      const key = t.key("completed-record");
      const first = t.claim({ fingerprint: "fp-first" });
      expectAcquired(await t.store.claim(key, first), { fence: 1, takeover: false }, "the first claim");
      expectBoolean(await t.store.release(key, first.token), true, "release by the first owner");
      const second = t.claim({ fingerprint: "fp-second" });
      expectAcquired(
        await t.store.claim(key, second),
        { fence: 2, takeover: false, fenceWhy: "one more than the released record's fence 1" },
        "the claim after the release",
      );
      const result = utf8("second owner's outcome");
      expectBoolean(
        await t.store.complete(key, second.token, { result, retentionMs: RETENTION_MS }),
        true,
        "complete",
      );
      const names = new Map<unknown, string>([
        [first.token, "the released first owner's token"],
        [second.token, "the completing owner's token"],
        ["fp-first", "the released first claim's fingerprint"],
        ["fp-second", "the completing claim's fingerprint"],
      ]);
      const expected = {
        state: "completed",
        token: second.token,
        fingerprint: "fp-second",
        fence: 2,
        result,
      } as const;
      expectRecord(await t.store.get(key), expected, "get of the completed record", names);
      const replay = expectLost(await t.store.claim(key, t.claim()), "a claim of the completed key");
      expectRecord(replay, expected, "the completed record a later claim returns", names);
    },
  ],
  [
    "once",
    "a completed key cannot be completed, released or extended again",
    async (t) => {
      const key = t.key();
      const owner = t.claim();
      await t.store.claim(key, owner);
      await t.store.complete(key, owner.token, { result: utf8("first"), retentionMs: RETENTION_MS });
      const again = { result: utf8("second"), retentionMs: RETENTION_MS };
      expectBoolean(await t.store.complete(key, owner.token, again), false, "a second complete by the owner");
      expectBoolean(
        await t.store.release(key, owner.token),
        false,
        "release of the completed key by its owner",
      );
      expectBoolean(
        await t.store.extend(key, owner.token, t.claim().leaseMs),
        false,
        "extend of the completed key",
      );
      expectRecord(
        await t.store.get(key),
        { state: "completed", token: owner.token, result: utf8("first") },
        "the completed record after those three calls",
      );
    },
  ],
  [
    "retention-from-completion",
    "retention counts from the completion, not from the claim: a record completed late stays retentionMs after its completion",
    async (t) => {
      const retentionMs = 2 * t.leaseMs;
      const key = t.key("retention-from-completion");
      const owner = t.claim();
      const claimedAt = clock();
      await t.store.claim(key, owner);
      // By now a retention counted from the claim would have ended.
      await t.waitPast(retentionMs);
      const completedAt = clock();
      expectBoolean(
        await t.store.complete(key, owner.token, { result: utf8("late"), retentionMs }),
        true,
        "complete by the owner (its lease is long)",
      );
      const late = Math.round(completedAt - claimedAt);
      const gone = (read: unknown, when: string) =>
        fail(
          `the record completed ${late} ms after its claim with retentionMs ${retentionMs} reads as absent ${when} ` +
            `(${show(read)}): retention must run from the completion, not from the claim`,
        );
      const now = await t.store.get(key);
      if (now?.state !== "completed") gone(now, "right after the completion");
      await sleepUntil(completedAt + retentionMs / 2);
      const later = await t.store.get(key);
      if (later?.state !== "completed") gone(later, `${retentionMs / 2} ms after the completion`);
      expectRecord(later, { state: "completed", token: owner.token, result: utf8("late") }, "get");
    },
  ],
]);
