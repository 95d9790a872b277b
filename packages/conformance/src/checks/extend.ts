import {
  expectAbsent,
  expectAcquired,
  expectBoolean,
  expectLost,
  expectRecord,
  fail,
  show,
} from "../assertions.js";
import { clock, group, RETENTION_MS, sleep, sleepUntil, utf8 } from "../context.js";
import { onTime } from "../on-time.js";

/** `extend`: compare-and-set that moves the lease end to `leaseMs` from now. */
export const extend = group("extend", [
  [
    "keeps-key",
    "extend keeps the key from being taken past its original lease",
    (t) =>
      onTime(t.toleranceMs, async (inTime) => {
        // Extended every third of its lease, for two leases' time. A call this process's own stalls
        // made too late for the lease the last one set starts the check over (`onTime`).
        const leaseMs = 2 * t.leaseMs;
        const key = t.key();
        const owner = t.shortClaim({ leaseMs });
        let setAt = clock();
        await t.store.claim(key, owner);
        const start = clock();
        while (clock() < start + 2 * leaseMs + t.toleranceMs) {
          await sleep(leaseMs / 3);
          inTime(setAt, leaseMs, "an extend");
          const sentAt = clock();
          expectBoolean(
            await t.store.extend(key, owner.token, leaseMs),
            true,
            `extend by the owner at +${Math.round(sentAt - start)} ms`,
          );
          setAt = sentAt;
        }
        inTime(setAt, leaseMs, "the other caller's claim");
        expectLost(
          await t.store.claim(key, t.claim()),
          `a claim ${Math.round(clock() - start)} ms after a ${leaseMs} ms lease that was extended every ${Math.round(leaseMs / 3)} ms`,
          "each extend must push the lease end to leaseMs from the extend",
        );
        const outcome = { result: utf8("kept"), retentionMs: RETENTION_MS };
        inTime(setAt, leaseMs, "the owner's completion");
        expectBoolean(await t.store.complete(key, owner.token, outcome), true, "complete by the owner");
      }),
  ],
  [
    "lease-from-extend",
    "extend sets the lease to end leaseMs from the extend: the key is still held three quarters of the way through it",
    (t) =>
      onTime(t.toleranceMs, async (inTime) => {
        const leaseMs = 4 * t.leaseMs;
        const key = t.key("extend-lease");
        const owner = t.shortClaim({ leaseMs });
        const claimedAt = clock();
        await t.store.claim(key, owner);
        await sleep(leaseMs / 2);
        inTime(claimedAt, leaseMs, "the extend halfway through");
        const extendedAt = clock();
        expectBoolean(
          await t.store.extend(key, owner.token, leaseMs),
          true,
          "extend by the owner halfway through",
        );
        await sleepUntil(extendedAt + 0.75 * leaseMs);
        inTime(extendedAt, leaseMs, "the get three quarters through the extended lease");
        const read = await t.store.get(key);
        if (read?.state !== "in_progress") {
          fail(
            `extend(${leaseMs} ms) was sent halfway through the claim's ${leaseMs} ms lease, and ${0.75 * leaseMs} ms ` +
              `after it was sent the key reads as ${show(read)}: the extended lease must end no earlier than ` +
              `${leaseMs} ms after the extend reached the store`,
          );
        }
        expectRecord(
          read,
          { state: "in_progress", token: owner.token, fence: 1 },
          "get of the extended lease",
        );
        inTime(extendedAt, leaseMs, "the other caller's claim");
        expectLost(
          await t.store.claim(key, t.claim()),
          "a claim of the key three quarters through the extended lease",
        );
      }),
  ],
  [
    "expired",
    "extend of an expired lease nobody took over returns false; the key stays absent and claimable (a takeover)",
    async (t) => {
      const key = t.key("late-extend");
      const owner = t.shortClaim();
      await t.store.claim(key, owner);
      await t.waitPast(t.leaseMs);
      expectBoolean(
        await t.store.extend(key, owner.token, 60_000),
        false,
        "extend by the owner after its lease ended (nobody took over)",
        "a lost lease cannot be revived",
      );
      expectAbsent(await t.store.get(key), "get after that extend");
      expectAcquired(await t.store.claim(key, t.claim()), { fence: 2, takeover: true }, "the next claim");
      const stale = { result: utf8("stale"), retentionMs: RETENTION_MS };
      expectBoolean(await t.store.complete(key, owner.token, stale), false, "complete by the old owner");
    },
  ],
]);
