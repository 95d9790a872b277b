import { expectBoolean, fail, show } from "../assertions.js";
import { group, LONG_LEASE_MS, RETENTION_MS, utf8 } from "../context.js";
import { expectKeys, listAll, summaryOf } from "../listing-support.js";

/** How far before its lease end minus the lease a claim time may be: a store may write the lease end late (DynamoDB adds its clock tolerance). */
const CLAIM_SLACK_MS = 10_000;

/** `list` (optional): summaries of the live records, and what it leaves out. */
export const listing = group(
  "listing",
  [
    [
      "summaries",
      "list returns each live record's key as claimed, state, fence, claim time and deadline, and no outcome, token or fingerprint",
      async (t) => {
        const base = `${t.key("list")}:`;
        const [held, done] = [`${base}held`, `${base}done`];
        const owner = t.claim();
        await t.store.claim(held, owner);
        const finisher = t.claim();
        await t.store.claim(done, finisher);
        await t.store.complete(done, finisher.token, { result: utf8("outcome"), retentionMs: RETENTION_MS });
        const found = await listAll(t, { prefix: base }, "list of an in-progress and a completed key");
        expectKeys(found, [held, done], "list of an in-progress and a completed key");
        const heldRecord = await t.store.get(held);
        const doneRecord = await t.store.get(done);
        const a = summaryOf(found, held, "list");
        const b = summaryOf(found, done, "list");
        for (const [summary, state, deadline, span] of [
          [
            a,
            "in_progress",
            heldRecord?.state === "in_progress" ? heldRecord.leaseExpiresAt : undefined,
            LONG_LEASE_MS,
          ],
          [
            b,
            "completed",
            doneRecord?.state === "completed" ? doneRecord.expiresAt : undefined,
            RETENTION_MS,
          ],
        ] as const) {
          const what = `the summary of the ${state} key`;
          for (const field of ["result", "token", "fingerprint"]) {
            if (field in summary)
              fail(`${what} carries ${field} (${show(summary)}): summaries leave it to get()`);
          }
          if (summary.state !== state || summary.fence !== 1 || summary.expiresAt !== deadline) {
            fail(
              `${what} is ${show(summary)}; expected state ${state}, fence 1 and expiresAt ${deadline} (what get returns)`,
            );
          }
          // The claim came just before the deadline was set: lease end - lease (retention end - retention).
          const latest = summary.expiresAt - span + 1;
          if (
            !Number.isFinite(summary.claimedAt) ||
            summary.claimedAt > latest ||
            summary.claimedAt < latest - CLAIM_SLACK_MS
          ) {
            fail(
              `${what} has claimedAt ${show(summary.claimedAt)}; the claim was made just before ${latest} (its deadline less ${span} ms)`,
            );
          }
        }
        // Extend moves the deadline, not the claim time.
        expectBoolean(
          await t.store.extend(held, owner.token, 2 * LONG_LEASE_MS),
          true,
          "extend by the owner",
        );
        const extended = summaryOf(
          await listAll(t, { prefix: base }, "list after extend"),
          held,
          "list after extend",
        );
        if (extended.claimedAt !== a.claimedAt || extended.expiresAt <= a.expiresAt) {
          fail(
            `after extend the summary is ${show(extended)}, before ${show(a)}: extend moves expiresAt and keeps claimedAt`,
          );
        }
      },
    ],
    [
      "absent",
      "list leaves out released, expired and deleted records; a takeover is listed with its new fence and claim time",
      async (t) => {
        const base = `${t.key("list-absent")}:`;
        const [live, released, expired, ended, deleted] = [
          "live",
          "released",
          "expired",
          "ended",
          "deleted",
        ].map((k) => base + k) as [string, string, string, string, string];
        await t.store.claim(live, t.claim());
        const releaser = t.claim();
        await t.store.claim(released, releaser);
        await t.store.release(released, releaser.token);
        await t.store.claim(expired, t.shortClaim());
        const finisher = t.claim();
        await t.store.claim(ended, finisher);
        await t.store.complete(ended, finisher.token, { result: utf8("x"), retentionMs: t.leaseMs });
        await t.store.claim(deleted, t.claim());
        await t.store.delete(deleted);
        const before = await listAll(t, { prefix: base }, "list before the short lease and retention end");
        expectKeys(
          before,
          [live, expired, ended],
          "list before the short lease and retention end",
          "a released or deleted record reads as absent",
        );
        const first = summaryOf(before, expired, "list");
        await t.waitPast(t.leaseMs);
        expectKeys(
          await listAll(t, { prefix: base }, "list"),
          [live],
          "list once the short lease and retention have ended",
          "an expired record reads as absent",
        );
        await t.store.claim(expired, t.claim());
        const taken = summaryOf(
          await listAll(t, { prefix: base }, "list after the takeover"),
          expired,
          "list after the takeover",
        );
        if (taken.fence !== 2 || taken.state !== "in_progress" || !(taken.claimedAt > first.claimedAt)) {
          fail(
            `after the takeover the summary is ${show(taken)}, the first claim's ${show(first)}: expected fence 2, in_progress and a later claimedAt`,
          );
        }
      },
    ],
  ],
  { needs: "list" },
);
