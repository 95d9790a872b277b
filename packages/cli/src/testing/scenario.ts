// Test support, neither built nor published: the CLI against one real store, with records made through
// that store (a claim left in progress, one completed with an HTTP response, one released), all under a
// scope of their own so that a shared server's other keys stay out of the way.
import { randomUUID } from "node:crypto";
import { composeStoredKey, encodeStoredResponse, type IdempotencyStore } from "@idemkit/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { idemkit, oneLine, parsed } from "./run.js";

export interface Subject {
  /** The store, as the app would make it (on the same server, table, prefix as `args` name). */
  store(): Promise<IdempotencyStore>;
  /** Closes what `store()` opened. */
  close(): Promise<void>;
  /** Moves a record's claim time 10 minutes back, as if it had been claimed then (its lease still live). */
  age(key: string): Promise<void>;
  /** `--url …` and the store options that reach the same records. */
  args: string[];
  /** Whether `purge-expired` deletes rows itself (else the store forgets them by a TTL). */
  purges: boolean;
}

const HOUR = 3_600_000;
/** A scenario test's time: several CLI processes one after another (see `storeScenario`). */
const CLI_RUNS_TIMEOUT_MS = 90_000;
const claimOf = (leaseMs = HOUR) => ({
  token: randomUUID(),
  fingerprint: "fp-1",
  leaseMs,
  retentionMs: HOUR,
});

/** The scenario's tests on `subject`, skipped (visibly, in the title) when `skip` says why. */
export function storeScenario(name: string, skip: string | false, subject: () => Subject): void {
  // The tests run side by side: the purge tests work on keys of a scope of their own. Each runs the CLI
  // several times, a process each (the paged list up to eight): on a loaded CI machine the list took 21–28 s
  // of the 30 s default.
  const options = { concurrent: true, timeout: CLI_RUNS_TIMEOUT_MS };
  describe.skipIf(Boolean(skip))(skip ? `${name} (skipped: ${skip})` : name, options, () => {
    const scope = `cli-${randomUUID()}`;
    const key = (id: string) => composeStoredKey("idem:", "http", scope, id);
    const purgeScope = `${scope}-purge`;
    const purgeKey = (id: string) => composeStoredKey("idem:", "http", purgeScope, id);
    let s: Subject;
    let store: IdempotencyStore;
    const run = (...args: string[]) => idemkit([...args, ...s.args]);

    beforeAll(async () => {
      s = subject();
      store = await s.store();
      await store.claim(key("stuck"), claimOf());
      await s.age(key("stuck"));
      await store.claim(key("fresh"), claimOf());
      const done = claimOf();
      await store.claim(key("done"), done);
      const response = {
        status: 201,
        statusText: "Created",
        headers: [["content-type", "application/json"]] as [string, string][],
        body: new TextEncoder().encode('{"id":7}'),
      };
      await store.complete(key("done"), done.token, {
        result: encodeStoredResponse(response),
        retentionMs: HOUR,
      });
      const released = claimOf();
      await store.claim(key("released"), released);
      await store.release(key("released"), released.token);
    });
    afterAll(async () => {
      for (const id of ["stuck", "fresh", "done", "released"]) await store?.delete(key(id));
      for (const id of ["purged", "expired"]) await store?.delete(purgeKey(id));
      await s?.close();
    });

    it("inspect: the live record, by stored key or by --scope and the client's key; exit 1 for a key without one", async () => {
      const text = await run("inspect", "--scope", scope, "stuck");
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(/^key +idem:http:\d+:cli-[^\n]+:stuck\nstate +in_progress\nfence +1\n/);
      const done = await run("inspect", key("done"), "--json");
      expect(done.code).toBe(0);
      expect(parsed(done)).toMatchObject({
        key: key("done"),
        found: true,
        record: {
          state: "completed",
          fence: 1,
          fingerprint: "fp-1",
          outcome: {
            response: {
              status: 201,
              statusText: "Created",
              headers: [["content-type", "application/json"]],
              bodyBytes: 8,
            },
          },
        },
      });
      for (const id of ["released", "never"]) {
        const missing = await run("inspect", "--scope", scope, id, "--json");
        expect(missing.code).toBe(1);
        expect(parsed(missing)).toEqual({ key: key(id), found: false });
      }
    });

    it("list: the live records of the scope, by state and claim age (the stuck key), in pages", async () => {
      const all = await run("list", "--scope", scope, "--json");
      expect(all.code).toBe(0);
      const records = (parsed(all).records as { key: string; state: string }[]).sort((a, b) =>
        a.key < b.key ? -1 : 1,
      );
      expect(records.map((r) => [r.key, r.state])).toEqual([
        [key("done"), "completed"],
        [key("fresh"), "in_progress"],
        [key("stuck"), "in_progress"],
      ]);
      const stuck = await run("list", "--scope", scope, "--in-progress", "--older-than", "5m");
      expect(stuck.code).toBe(0);
      expect(stuck.stdout).toMatch(
        /^STATE +FENCE +CLAIMED +EXPIRES +KEY\nin_progress +1 +10m ago +in \d+m +idem:http:\d+:cli-\S+:stuck\n$/,
      );
      expect(oneLine(stuck)).toBe("1 record");
      const completed = await run("list", "--scope", scope, "--completed", "--json");
      expect((parsed(completed).records as { key: string }[]).map((r) => r.key)).toEqual([key("done")]);
      // Two records at a time, going on with the cursor it prints.
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let pages = 0; pages < 50; pages++) {
        const page = await run(
          "list",
          "--scope",
          scope,
          "--limit",
          "1",
          "--json",
          ...(cursor ? ["--cursor", cursor] : []),
        );
        const body = parsed(page) as { records: { key: string }[]; cursor?: string };
        expect(body.records.length).toBeLessThanOrEqual(2);
        seen.push(...body.records.map((r) => r.key));
        cursor = body.cursor;
        if (cursor === undefined) break;
      }
      expect([...new Set(seen)].sort()).toEqual([key("done"), key("fresh"), key("stuck")]);
    });

    it("stats: the scope's live records by state and its oldest claim in progress", async () => {
      const ran = await run("stats", "--scope", scope, "--json");
      expect(ran.code).toBe(0);
      expect(parsed(ran)).toEqual({
        inProgress: 2,
        completed: 1,
        total: 3,
        oldestInProgress: { key: key("stuck"), claimedAt: expect.any(Number) },
      });
      const text = await run("stats", "--scope", scope, "--older-than", "5m");
      expect(text.stdout).toMatch(
        /^in_progress +1\ncompleted +0\ntotal +1\noldest in progress +idem:\S+:stuck \(claimed 10m ago\)\n$/,
      );
    });

    it("purge: removes a live record whatever its state (exit 0), then there is nothing to purge (exit 1)", async () => {
      await store.claim(purgeKey("purged"), claimOf());
      const ran = await run("purge", "--scope", purgeScope, "purged");
      expect(ran.code).toBe(0);
      expect(ran.stdout).toBe(`purged ${purgeKey("purged")} (it was in_progress, fence 1)\n`);
      // Its owner may still run: the operator is told, on stderr, in one line.
      expect(ran.stderr).toMatch(
        /^warning: \S+ was in progress \(fence 1\): its owner may still be running, .*fence 1 again.*\n$/,
      );
      expect(await store.get(purgeKey("purged"))).toBeUndefined();
      const again = await run("purge", purgeKey("purged"), "--json");
      expect(again.code).toBe(1);
      expect(parsed(again)).toEqual({ key: purgeKey("purged"), purged: false });
      // The next claim of a purged key starts again at fence 1: its fence went with it.
      expect(await store.claim(purgeKey("purged"), claimOf())).toMatchObject({ acquired: true, fence: 1 });
    });

    it("purge-expired and ping", async () => {
      await store.claim(purgeKey("expired"), { ...claimOf(1), retentionMs: 0 });
      await new Promise((resolve) => setTimeout(resolve, 20));
      const ran = await run("purge-expired", "--json");
      expect(ran.code).toBe(0);
      if (s.purges) expect(parsed(ran).purged).toBeGreaterThanOrEqual(1);
      else expect(parsed(ran)).toEqual({ purged: 0, automatic: expect.stringMatching(/TTL/) });
      const ping = await run("ping", "--json");
      expect(ping.code).toBe(0);
      expect(parsed(ping)).toMatchObject({ ok: true, ms: expect.any(Number) });
    });
  });
}
