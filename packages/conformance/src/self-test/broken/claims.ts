import type { ClaimResult } from "@idemkit/core";
import { type BrokenStore, mapAcquired, mapReads, single, wrapped } from "./support.js";

/** Broken stores the `claims` checks catch. */
export const claims: BrokenStore[] = [
  {
    name: "fence-starts-at-zero",
    breaks: "fence starts at 1 when nothing is kept (a counter read before its increment)",
    fails: { "claims/fresh": /fence 0, expected fence 1/ },
    build: (inner) =>
      single(
        inner,
        mapAcquired(inner, (acquired) => ({ ...acquired, fence: acquired.fence - 1 })),
      ),
  },
  {
    name: "conflict-echoes-caller",
    breaks:
      "a losing claim returns the live record as stored (this one echoes the caller's token and fingerprint)",
    fails: { "claims/live-record": /the losing caller's own token\) instead of .*the owner's token/ },
    build: (inner) =>
      wrapped(inner, {
        async claim(key, claim) {
          const result = await inner.claim(key, claim);
          if (result.acquired) return result;
          return {
            acquired: false,
            record: { ...result.record, token: claim.token, fingerprint: claim.fingerprint },
          };
        },
      }),
  },
  {
    name: "same-token-reacquires",
    breaks: "a claim retried with the owner's token returns the record (this one acquires again)",
    fails: {
      "claims/same-token-retry":
        /expected the claim to find the live record and not acquire, but it acquired/,
      "expiry/takeover-retry": /expected the claim to find the live record and not acquire, but it acquired/,
    },
    build: (inner) =>
      wrapped(inner, {
        async claim(key, claim): Promise<ClaimResult> {
          const result = await inner.claim(key, claim);
          if (
            result.acquired ||
            result.record.state !== "in_progress" ||
            result.record.token !== claim.token
          ) {
            return result;
          }
          return { acquired: true, fence: result.record.fence, takeover: result.record.takeover };
        },
      }),
  },
  {
    name: "claim-refreshes-lease",
    breaks:
      "a losing claim changes nothing (this one renews the live lease, as a SET with a TTL on every claim would)",
    fails: { "claims/losing-claim-changes-nothing": /moved its lease end from \d+(\.\d+)? to/ },
    build: (inner) =>
      wrapped(inner, {
        async claim(key, claim) {
          const result = await inner.claim(key, claim);
          if (!result.acquired && result.record.state === "in_progress") {
            await inner.extend(key, result.record.token, claim.leaseMs);
          }
          return result;
        },
      }),
  },
  {
    name: "rejects-zero-retention",
    breaks: "retentionMs is any value >= 0 (this one rejects 0, as Redis rejects PX 0)",
    fails: { "claims/zero-retention": /invalid expire time/ },
    build: (inner) =>
      wrapped(inner, {
        async claim(key, claim) {
          if (claim.retentionMs === 0) throw new Error("ERR invalid expire time in 'set' command");
          return inner.claim(key, claim);
        },
      }),
  },
  {
    name: "empty-fingerprint-as-null",
    breaks: "the fingerprint is returned as stored (this one reads '' back as NULL, as Oracle stores it)",
    fails: { "claims/fingerprint-empty": /fingerprint null instead of ""/ },
    build: (inner) =>
      single(
        inner,
        mapReads(inner, (record) =>
          record.fingerprint === "" ? { ...record, fingerprint: null as unknown as string } : record,
        ),
      ),
  },
  {
    name: "fingerprint-truncated",
    breaks: "the fingerprint is returned as stored (this one keeps 255 characters, a VARCHAR(255))",
    fails: { "claims/fingerprint-unicode": /fingerprint: 255 UTF-16 units instead of 2000/ },
    build: (inner) =>
      wrapped(inner, {
        claim: (key, claim) => inner.claim(key, { ...claim, fingerprint: claim.fingerprint.slice(0, 255) }),
      }),
  },
  {
    name: "fingerprint-loses-nul",
    breaks:
      "the fingerprint is returned as stored (this one drops NUL, as a C string or a PostgreSQL text would)",
    fails: { "claims/fingerprint-latin1": /fingerprint: 255 UTF-16 units instead of 256/ },
    build: (inner) =>
      wrapped(inner, {
        claim: (key, claim) =>
          inner.claim(key, { ...claim, fingerprint: claim.fingerprint.replaceAll("\u0000", "") }),
      }),
  },

  {
    name: "fingerprint-nul-rejected",
    breaks: "any fingerprint is stored (this one rejects NUL, as a PostgreSQL text parameter does)",
    fails: {
      "claims/fingerprint-latin1":
        /a claim with fingerprint every code point 0-255, NUL included .* rejected: .*invalid byte sequence for encoding "UTF8": 0x00/,
    },
    build: (inner) =>
      wrapped(inner, {
        async claim(key, claim) {
          if (claim.fingerprint.includes("\u0000")) {
            throw new Error('invalid byte sequence for encoding "UTF8": 0x00');
          }
          return inner.claim(key, claim);
        },
      }),
  },
];
