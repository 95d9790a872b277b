import { randomUUID } from "node:crypto";
import type { ClaimResult } from "@idemkit/core";
import { expectAcquired, expectBoolean, expectLost, expectRecord, fail, show } from "../assertions.js";
import { type ConformanceContext, group, RETENTION_MS, utf8 } from "../context.js";

/** Runs `calls` at once; a rejection fails with its index and error (losing a race is never an error). */
async function settle<T>(what: string, calls: (() => Promise<T>)[]): Promise<T[]> {
  const settled = await Promise.allSettled(calls.map((call) => call()));
  const rejected = settled.flatMap((s, i) => (s.status === "rejected" ? [[i, s.reason] as const] : []));
  if (rejected.length > 0) {
    const [i, reason] = rejected[0]!;
    // The store's own error (the context names the call; here the index says which).
    const error = reason instanceof Error && reason.cause !== undefined ? reason.cause : reason;
    fail(
      `${rejected.length} of ${calls.length} concurrent ${what} rejected, first #${i}: ${show(error)}. ` +
        "Losing a race must resolve (acquired: false, or false), never reject: retry a deadlock or a " +
        "serialization failure inside the store",
    );
  }
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

/** Asserts exactly one of `results` acquired, and that every loser saw the winner's record. */
function oneWinner(results: ClaimResult[], tokens: string[], what: string): number {
  const winners = results.flatMap((r, i) => (r.acquired ? [i] : []));
  if (winners.length !== 1) {
    const shown = winners
      .slice(0, 6)
      .map((i) => `#${i} (fence ${show((results[i] as { fence?: unknown }).fence)})`);
    const detail = shown.join(", ") + (winners.length > shown.length ? ", …" : "");
    fail(
      winners.length === 0
        ? `${what}: none of ${results.length} concurrent claims acquired the key`
        : `${what}: ${winners.length} of ${results.length} concurrent claims acquired the key: ${detail}. Two owners ` +
            "at once: the claim must be one atomic conditional write, never a read then a write",
    );
  }
  const winner = winners[0]!;
  results.forEach((r, i) => {
    if (!r.acquired && r.record.token !== tokens[winner]) {
      fail(
        `${what}: losing claim #${i} returned the record of token ${show(r.record.token)}, not the winner's ` +
          `(#${winner}, ${show(tokens[winner])})`,
      );
    }
  });
  return winner;
}

const instances = (t: ConformanceContext) => t.instances(t.race.stores);

/** Concurrent callers, across store instances (separate connections where the store has them). */
export const races = group(
  "races",
  [
    [
      "claims",
      "concurrent claims from several store instances yield exactly one owner; losers see its record; exactly one completion wins",
      async (t) => {
        const stores = await instances(t);
        for (let round = 0; round < 3; round++) {
          const key = t.key("race");
          const claims = Array.from({ length: t.race.claims }, (_, i) =>
            t.claim({ token: `${round}-${i}-${randomUUID()}` }),
          );
          const tokens = claims.map((c) => c.token);
          const at = (i: number) => stores[i % stores.length]!;
          const results = await settle(
            "claims of one new key",
            claims.map((c, i) => () => at(i).claim(key, c)),
          );
          const winner = oneWinner(
            results,
            tokens,
            `round ${round + 1}, ${claims.length} claims across ${stores.length} instances`,
          );
          // Every caller tries to complete: only the owner's token may.
          const completions = await settle(
            "completions",
            claims.map(
              (c, i) => () =>
                at(i).complete(key, c.token, { result: utf8(c.token), retentionMs: RETENTION_MS }),
            ),
          );
          completions.forEach((done, i) => {
            if (done !== (i === winner)) {
              fail(
                i === winner
                  ? `round ${round + 1}: the owner's (#${i}) completion returned ${show(done)}`
                  : `round ${round + 1}: the completion of losing claim #${i} returned ${show(done)}: only the owner's token may complete`,
              );
            }
          });
          expectRecord(
            await t.store.get(key),
            { state: "completed", token: tokens[winner]!, result: utf8(tokens[winner]!) },
            `round ${round + 1}: the completed record`,
          );
        }
      },
    ],
    [
      "takeovers",
      "concurrent takeovers of an expired lease yield exactly one new owner",
      async (t) => {
        const stores = await instances(t);
        const key = t.key("takeover");
        await t.store.claim(key, t.shortClaim());
        await t.waitPast(t.leaseMs);
        const claims = Array.from({ length: t.race.claims }, () => t.claim());
        const results = await settle(
          "takeovers of one expired lease",
          claims.map((c, i) => () => stores[i % stores.length]!.claim(key, c)),
        );
        const winner = oneWinner(
          results,
          claims.map((c) => c.token),
          `${claims.length} claims of an expired lease across ${stores.length} instances`,
        );
        expectAcquired(results[winner]!, { fence: 2, takeover: true }, "the one takeover");
      },
    ],
    [
      "owner-completions",
      "concurrent completions by the owner: exactly one returns true, and its bytes are the ones stored",
      async (t) => {
        const stores = await instances(t);
        const key = t.key("complete-race");
        const owner = t.claim();
        expectAcquired(await t.store.claim(key, owner), { fence: 1, takeover: false }, "the claim");
        const outcomes = Array.from({ length: Math.min(20, t.race.claims) }, (_, i) => utf8(`outcome #${i}`));
        const done = await settle(
          "completions by the owner",
          outcomes.map(
            (result, i) => () =>
              stores[i % stores.length]!.complete(key, owner.token, { result, retentionMs: RETENTION_MS }),
          ),
        );
        const wins = done.flatMap((d, i) => (d ? [i] : []));
        if (wins.length !== 1) {
          fail(
            `${wins.length} of ${outcomes.length} concurrent completions by the owner returned true (${wins.map((i) => `#${i}`).join(", ")}): ` +
              "complete must be one compare-and-set, so only the first can succeed and the stored outcome is the one acknowledged",
          );
        }
        expectRecord(
          await t.store.get(key),
          { state: "completed", token: owner.token, result: outcomes[wins[0]!]! },
          `the completed record (the acknowledged completion was #${wins[0]})`,
        );
      },
    ],
    [
      "one-state",
      "every instance sees the same record: what one instance writes, another reads at once",
      async (t) => {
        const [a, b] = await t.instances(2);
        const key = t.key("instances");
        const owner = t.claim({ fingerprint: "fp-a" });
        expectAcquired(
          await a!.claim(key, owner),
          { fence: 1, takeover: false },
          "a claim through instance 1",
        );
        const mine = { token: owner.token, fingerprint: "fp-a", fence: 1 };
        const lost = expectLost(await b!.claim(key, t.claim()), "a claim through instance 2");
        expectRecord(
          lost,
          { state: "in_progress", ...mine },
          "the record a claim through instance 2 returns",
        );
        expectRecord(
          await b!.get(key),
          { state: "in_progress", ...mine },
          "get through instance 2 after the claim",
        );
        const result = utf8("completed through instance 1");
        const outcome = { result, retentionMs: RETENTION_MS };
        expectBoolean(await a!.complete(key, owner.token, outcome), true, "complete through instance 1");
        const completed = { state: "completed", ...mine, result } as const;
        expectRecord(await b!.get(key), completed, "get through instance 2 after the completion");
        const replay = expectLost(
          await b!.claim(key, t.claim()),
          "a claim through instance 2 after the completion",
        );
        expectRecord(replay, completed, "the record that claim returns");
        expectBoolean(await b!.delete(key), true, "delete through instance 2");
        const gone = await a!.get(key);
        if (gone !== undefined)
          fail(`get through instance 1 after a delete through instance 2 returned ${show(gone)}`);
      },
    ],
  ],
  { alone: true },
);
