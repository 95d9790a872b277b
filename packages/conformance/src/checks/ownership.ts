import { randomUUID } from "node:crypto";
import { expectAbsent, expectAcquired, expectBoolean, expectRecord } from "../assertions.js";
import { group, RETENTION_MS, utf8 } from "../context.js";

/** Complete, release and extend are compare-and-set on the owner token (store.ts; design rule 3). */
export const ownership = group("ownership", [
  [
    "wrong-token",
    "complete, release and extend with a wrong token return false and change nothing",
    async (t) => {
      const key = t.key();
      const owner = t.claim({ fingerprint: "fp-wrong" });
      await t.store.claim(key, owner);
      const before = await t.store.get(key);
      expectRecord(before, { state: "in_progress", token: owner.token }, "get after the claim");
      const wrong = randomUUID();
      const why = "only the token that holds the lease may change the record";
      expectBoolean(
        await t.store.complete(key, wrong, { result: utf8("x"), retentionMs: RETENTION_MS }),
        false,
        "complete with another token",
        why,
      );
      expectBoolean(await t.store.release(key, wrong), false, "release with another token", why);
      expectBoolean(await t.store.extend(key, wrong, 10 * 60_000), false, "extend with another token", why);
      expectRecord(
        await t.store.get(key),
        { ...before! },
        "the owner's record after complete, release and extend with another token",
        new Map([[owner.token, "the owner's token"]]),
      );
      expectBoolean(
        await t.store.complete(key, owner.token, { result: utf8("ok"), retentionMs: RETENTION_MS }),
        true,
        "complete by the owner afterwards",
      );
    },
  ],
  [
    "absent-key",
    "complete, release and extend on an absent key return false and create nothing",
    async (t) => {
      const key = t.key();
      const token = randomUUID();
      const why = "nobody holds a lease on a key never claimed";
      const outcome = { result: utf8("x"), retentionMs: RETENTION_MS };
      expectBoolean(
        await t.store.complete(key, token, outcome),
        false,
        "complete of a key never claimed",
        why,
      );
      expectBoolean(await t.store.release(key, token), false, "release of a key never claimed", why);
      expectBoolean(await t.store.extend(key, token, t.leaseMs), false, "extend of a key never claimed", why);
      expectAbsent(await t.store.get(key), "get of the key afterwards");
      expectAcquired(
        await t.store.claim(key, t.claim()),
        { fence: 1, takeover: false },
        "the first claim afterwards",
      );
    },
  ],
]);
