import { expectAbsent, expectBoolean, fail, show } from "../assertions.js";
import { group, RETENTION_MS, utf8 } from "../context.js";

/** `get` (the live record or `undefined`) and `delete` (operator purge, whatever the state). */
export const records = group("records", [
  [
    "get-delete",
    "get returns undefined for an unknown key; delete purges any state",
    async (t) => {
      const key = t.key();
      expectAbsent(await t.store.get(key), "get of a key never claimed");
      expectBoolean(await t.store.delete(key), false, "delete of a key never claimed");
      const owner = t.claim();
      await t.store.claim(key, owner);
      expectBoolean(await t.store.delete(key), true, "delete of an in-progress key");
      expectAbsent(await t.store.get(key), "get after deleting the in-progress key");
      const stale = { result: utf8("x"), retentionMs: RETENTION_MS };
      expectBoolean(
        await t.store.complete(key, owner.token, stale),
        false,
        "complete by the owner of the deleted lease",
      );
      const next = t.claim();
      await t.store.claim(key, next);
      await t.store.complete(key, next.token, { result: utf8("y"), retentionMs: RETENTION_MS });
      expectBoolean(await t.store.delete(key), true, "delete of a completed key");
      expectAbsent(await t.store.get(key), "get after deleting the completed key");
      const again = await t.store.claim(key, t.claim());
      if (!again.acquired) fail(`a claim after the delete did not acquire: it found ${show(again.record)}`);
    },
  ],
]);
