import {
  attempt,
  expectAcquired,
  expectBoolean,
  expectLost,
  expectRecord,
  fail,
  show,
} from "../assertions.js";
import { type CheckEntry, group, RETENTION_MS, utf8 } from "../context.js";
import { randomText } from "../random-text.js";

const fingerprints: [slug: string, label: string, make: () => string][] = [
  ["empty", "the empty string (run() without input)", () => ""],
  ["unicode", "2,000 characters of Unicode (a custom fingerprint)", () => randomText(2000, { nul: false })],
  [
    "latin1",
    "every code point 0-255, NUL included (a binary digest as a latin1 string)",
    () => String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i)),
  ],
];

const fingerprintChecks = fingerprints.map(
  ([slug, label, make]): CheckEntry => [
    `fingerprint-${slug}`,
    `fingerprints are stored and returned exactly: ${label}`,
    async (t) => {
      const fingerprint = make();
      const key = t.key("fingerprint");
      const owner = t.claim({ fingerprint });
      const claimed = await attempt(`a claim with fingerprint ${label}`, t.store.claim(key, owner));
      expectAcquired(claimed, { fence: 1, takeover: false }, `a claim with fingerprint ${label}`);
      const what = `the fingerprint (${label}) read back`;
      const lost = expectLost(await t.store.claim(key, t.claim()), "a second claim of the key");
      expectRecord(lost, { state: "in_progress", fingerprint }, `${what} by a losing claim`);
      expectRecord(await t.store.get(key), { state: "in_progress", fingerprint }, `${what} by get`);
      const completed = await t.store.complete(key, owner.token, {
        result: utf8("r"),
        retentionMs: RETENTION_MS,
      });
      expectBoolean(completed, true, "complete by the owner");
      expectRecord(
        await t.store.get(key),
        { state: "completed", fingerprint },
        `${what} by get once completed`,
      );
      const replay = expectLost(await t.store.claim(key, t.claim()), "a claim of the completed key");
      expectRecord(replay, { state: "completed", fingerprint }, `${what} by a claim of the completed key`);
    },
  ],
);

/** One atomic conditional write that also returns the live record (store.ts, `claim`). */
export const claims = group("claims", [
  [
    "fresh",
    "a fresh claim acquires the key with fence 1",
    async (t) => {
      const result = await t.store.claim(t.key(), t.claim());
      expectAcquired(result, { fence: 1, takeover: false }, "a claim of a new key");
    },
  ],
  [
    "live-record",
    "a claim of a live in-progress key returns its record with token, fingerprint, fence, lease end and takeover flag",
    async (t) => {
      const key = t.key();
      const owner = t.claim({ fingerprint: "fp-owner" });
      await t.store.claim(key, owner);
      const other = t.claim({ fingerprint: "fp-other" });
      const record = expectLost(await t.store.claim(key, other), "a second claim of a live key");
      const names = new Map([
        [owner.token, "the owner's token"],
        [other.token, "the losing caller's own token"],
        ["fp-other", "the losing caller's own fingerprint"],
      ]);
      expectRecord(
        record,
        { state: "in_progress", token: owner.token, fingerprint: "fp-owner", fence: 1, takeover: false },
        "the record a losing claim returns (the owner's, as stored)",
        names,
      );
      const lease = (record as { leaseExpiresAt?: unknown }).leaseExpiresAt;
      if (typeof lease !== "number" || !(lease > 0)) {
        fail(
          `the record a losing claim returns has leaseExpiresAt ${show(lease)}: every in_progress record has a lease end`,
        );
      }
    },
  ],
  [
    "same-token-retry",
    "a retried claim with the same token is recognised as the owner's own record",
    async (t) => {
      const key = t.key();
      const owner = t.claim({ fingerprint: "fp-retry" });
      expectAcquired(await t.store.claim(key, owner), { fence: 1, takeover: false }, "the first claim");
      const retried = expectLost(
        await t.store.claim(key, owner),
        "the same claim sent again (its first reply was lost)",
        "a retry with the owner's token must come back with the owner's record, not acquire again",
      );
      expectRecord(
        retried,
        { state: "in_progress", token: owner.token, fingerprint: "fp-retry", fence: 1, takeover: false },
        "the record the retried claim returns",
      );
      expectRecord(
        await t.store.get(key),
        { state: "in_progress", token: owner.token, takeover: false },
        "get",
      );
      const completed = await t.store.complete(key, owner.token, {
        result: utf8("done"),
        retentionMs: RETENTION_MS,
      });
      expectBoolean(completed, true, "complete by the owner after its retried claim");
    },
  ],
  [
    "losing-claim-changes-nothing",
    "a claim that does not acquire changes nothing: the lease end of an in-progress record and the retention of a completed one stay",
    async (t) => {
      const key = t.key();
      const owner = t.claim({ fingerprint: "fp-owner" });
      await t.store.claim(key, owner);
      const before = await t.store.get(key);
      expectRecord(before, { state: "in_progress", token: owner.token }, "get after the claim");
      // Longer lease and retention than the owner's and another fingerprint; then the owner's own retry.
      const long = { leaseMs: 10 * 60_000, retentionMs: 6 * 60 * 60_000 };
      await t.store.claim(key, t.claim({ fingerprint: "fp-other", ...long }));
      await t.store.claim(key, { ...owner, ...long });
      const after = await t.store.get(key);
      if (before?.state === "in_progress" && after?.state === "in_progress") {
        if (after.leaseExpiresAt !== before.leaseExpiresAt) {
          fail(
            `a claim that lost to the live record moved its lease end from ${before.leaseExpiresAt} to ` +
              `${after.leaseExpiresAt} (+${after.leaseExpiresAt - before.leaseExpiresAt} ms): a retried duplicate must ` +
              "never keep a stalled owner's key alive",
          );
        }
      }
      expectRecord(after, { ...before! }, "the in-progress record after two claims that lost to it");
      const completed = await t.store.complete(key, owner.token, {
        result: utf8("kept"),
        retentionMs: RETENTION_MS,
      });
      expectBoolean(completed, true, "complete by the owner");
      const done = await t.store.get(key);
      expectRecord(done, { state: "completed", token: owner.token }, "get after the completion");
      await t.store.claim(key, t.claim({ fingerprint: "fp-other", ...long }));
      const replayed = await t.store.get(key);
      if (
        done?.state === "completed" &&
        replayed?.state === "completed" &&
        replayed.expiresAt !== done.expiresAt
      ) {
        fail(
          `a claim that replayed the completed record moved its retention end from ${done.expiresAt} to ` +
            `${replayed.expiresAt}: a replay must leave the record as it is`,
        );
      }
      expectRecord(replayed, { ...done! }, "the completed record after a claim that replayed it");
    },
  ],
  [
    "zero-retention",
    "a claim with retentionMs 0 works like any other (keep-until is the lease end)",
    async (t) => {
      const key = t.key("zero-retention");
      const owner = t.claim({ retentionMs: 0 });
      expectAcquired(
        await t.store.claim(key, owner),
        { fence: 1, takeover: false },
        "a claim with retentionMs 0",
      );
      const other = expectLost(await t.store.claim(key, t.claim()), "a second claim of that live key");
      expectRecord(other, { state: "in_progress", token: owner.token }, "the record it returns");
      const completed = await t.store.complete(key, owner.token, {
        result: utf8("zero"),
        retentionMs: RETENTION_MS,
      });
      expectBoolean(completed, true, "complete of a key claimed with retentionMs 0");
      expectRecord(
        await t.store.get(key),
        { state: "completed", token: owner.token, result: utf8("zero") },
        "get",
      );
    },
  ],
  ...fingerprintChecks,
]);
