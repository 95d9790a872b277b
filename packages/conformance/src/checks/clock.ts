import { expectAcquired, expectBoolean, expectLost, expectRecord, fail, show } from "../assertions.js";
import { group, clock as local, sleepUntil, utf8 } from "../context.js";
import { onTime } from "../on-time.js";

/**
 * Deadlines are judged by the store's clock, in milliseconds, and a lease never ends before `leaseMs`
 * after the claim reached the store (store.ts, `ClaimRequest.leaseMs`).
 */
export const clock = group("clock", [
  [
    "epoch-milliseconds",
    "deadlines are milliseconds since the epoch, near Date.now() + the requested duration",
    async (t) => {
      // Durations far apart in every unit, so that seconds-for-milliseconds bugs cannot hide.
      const slack = 60_000;
      const longLease = 10 * 60_000;
      const longRetention = 6 * 60 * 60_000;
      const near = (actual: unknown, duration: number, what: string) => {
        const expected = Date.now() + duration;
        if (typeof actual !== "number" || !(Math.abs(actual - expected) < slack)) {
          fail(
            `${what} is ${show(actual)}, expected about Date.now() + ${duration} = ${expected} (±${slack} ms): ` +
              "deadlines are milliseconds since the epoch, on the store's clock",
          );
        }
      };
      const key = t.key("clock");
      const owner = t.claim({ leaseMs: longLease, retentionMs: longRetention });
      expectAcquired(await t.store.claim(key, owner), { fence: 1, takeover: false }, "the claim");
      const conflict = expectLost(await t.store.claim(key, t.claim()), "a second claim");
      near(
        (conflict as { leaseExpiresAt?: unknown }).leaseExpiresAt,
        longLease,
        "leaseExpiresAt of the record a claim returns",
      );
      const read = await t.store.get(key);
      near(
        (read as { leaseExpiresAt?: unknown } | undefined)?.leaseExpiresAt,
        longLease,
        "leaseExpiresAt read by get",
      );
      expectBoolean(await t.store.extend(key, owner.token, 2 * longLease), true, "extend");
      const extended = await t.store.get(key);
      near(
        (extended as { leaseExpiresAt?: unknown } | undefined)?.leaseExpiresAt,
        2 * longLease,
        "leaseExpiresAt after extend",
      );
      const outcome = { result: utf8("r"), retentionMs: longRetention };
      expectBoolean(await t.store.complete(key, owner.token, outcome), true, "complete");
      const done = await t.store.get(key);
      near(
        (done as { expiresAt?: unknown } | undefined)?.expiresAt,
        longRetention,
        "expiresAt of the completed record, read by get",
      );
      const replay = expectLost(await t.store.claim(key, t.claim()), "a claim of the completed key");
      near(
        (replay as { expiresAt?: unknown }).expiresAt,
        longRetention,
        "expiresAt of the completed record a claim returns",
      );
    },
  ],
  [
    "lease-length",
    "a lease lasts leaseMs: the key is still held three quarters of the way through it",
    (t) =>
      onTime(t.toleranceMs, async (inTime) => {
        const leaseMs = 4 * t.leaseMs;
        const key = t.key("lease-length");
        const owner = t.shortClaim({ leaseMs });
        const sentAt = local();
        expectAcquired(await t.store.claim(key, owner), { fence: 1, takeover: false }, "the claim");
        await sleepUntil(sentAt + 0.75 * leaseMs);
        inTime(sentAt, leaseMs, "the get three quarters through the lease");
        const read = await t.store.get(key);
        if (read?.state !== "in_progress") {
          fail(
            `${0.75 * leaseMs} ms after a claim with leaseMs ${leaseMs} was sent, the key reads as ${show(read)}: ` +
              `the lease must not end before ${leaseMs} ms after the claim reached the store (a coarse clock rounds the end up)`,
          );
        }
        expectRecord(
          read,
          { state: "in_progress", token: owner.token },
          "get three quarters through the lease",
        );
        inTime(sentAt, leaseMs, "the other caller's claim");
        expectLost(await t.store.claim(key, t.claim()), "a claim three quarters through the lease");
      }),
  ],
]);
