import { randomBytes, randomUUID } from "node:crypto";
import type { ClaimRequest, IdempotencyStore } from "@idemkit/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

export interface StoreConformanceOptions<S extends IdempotencyStore = IdempotencyStore> {
  /** Shown in the test names, e.g. "redis". */
  name: string;
  /**
   * Makes a store. Called once for the main instance and again for the race tests, so that
   * concurrent claims run across separate connections where the store has them.
   */
  createStore: () => S | Promise<S>;
  /** Closes what `createStore` opened (the client, the pool). Called once per created store. */
  teardown?: (store: S) => void | Promise<void>;
  /**
   * Timing of the expiry tests. `leaseMs` is the short lease the suite uses; `toleranceMs` is added
   * to every wait for a deadline to pass, for stores whose clock is coarse or remote.
   */
  timing?: { leaseMs?: number; toleranceMs?: number };
  /** How many store instances and claims the race test uses (default 4 instances, 50 claims). */
  race?: { stores?: number; claims?: number };
  /**
   * Runs the store's own cleanup of records past their keep-until time now, where it can be
   * triggered (a purge call, a sweep); a store that forgets by itself (a TTL) needs none. The
   * retention tests call it after a lease has expired, so a store that forgets a record before its
   * keep-until fails them instead of passing because its cleanup happened not to run.
   */
  purge?: (store: S) => unknown | Promise<unknown>;
  /** When set, the whole suite is skipped and the reason is shown in its name. */
  skip?: string | false;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const utf8 = (text: string) => new TextEncoder().encode(text);

/**
 * `length` UTF-16 code units of random well-formed text: ASCII (with `:`, `{`, `%`, quotes, NUL),
 * Latin, CJK and astral characters (a surrogate pair is never split).
 */
function randomText(length: number): string {
  const ranges: [number, number][] = [
    [0x00, 0x7f],
    [0xa0, 0x24f],
    [0x4e00, 0x9fff],
    [0x1f300, 0x1f6ff],
  ];
  const bytes = randomBytes(length * 4);
  let out = "";
  for (let i = 0; out.length < length; i += 4) {
    const [low, high] = ranges[bytes[i]! % ranges.length]!;
    let cp = low + (bytes.readUInt16BE(i + 1) % (high - low + 1));
    if (cp > 0xffff && out.length === length - 1) cp = 0x61;
    out += String.fromCodePoint(cp);
  }
  return out;
}

/**
 * Runs the idemkit store contract against a store, as vitest tests. Each test uses fresh random
 * keys, so the suite is safe on a shared database and needs no flush.
 */
export function runStoreConformance<S extends IdempotencyStore>(options: StoreConformanceOptions<S>): void {
  const leaseMs = options.timing?.leaseMs ?? 300;
  const toleranceMs = options.timing?.toleranceMs ?? 100;
  const retentionMs = 60_000;
  const raceStores = options.race?.stores ?? 4;
  const raceClaims = options.race?.claims ?? 50;
  const title = options.skip
    ? `${options.name} store conformance (skipped: ${options.skip})`
    : `${options.name} store conformance`;

  describe.skipIf(Boolean(options.skip))(title, () => {
    const created: S[] = [];
    let store: S;
    const run = randomUUID();
    let counter = 0;
    const freshKey = (label = "k") => `conformance:${run}:${label}:${++counter}`;
    const claimOf = (token: string = randomUUID(), fingerprint = "fp-1"): ClaimRequest => ({
      token,
      fingerprint,
      leaseMs,
      retentionMs,
    });
    const make = async () => {
      const s = await options.createStore();
      created.push(s);
      return s;
    };

    beforeAll(async () => {
      store = await make();
    });

    afterAll(async () => {
      for (const s of created) await options.teardown?.(s);
    });

    it("a fresh claim acquires the key with fence 1", async () => {
      const result = await store.claim(freshKey(), claimOf());
      expect(result).toEqual({ acquired: true, fence: 1, takeover: false });
    });

    it("a claim of a live in-progress key returns its record with token and fingerprint", async () => {
      const key = freshKey();
      const owner = claimOf(randomUUID(), "fp-owner");
      await store.claim(key, owner);
      const second = await store.claim(key, claimOf(randomUUID(), "fp-other"));
      expect(second.acquired).toBe(false);
      if (second.acquired) return;
      expect(second.record).toMatchObject({
        state: "in_progress",
        token: owner.token,
        fingerprint: "fp-owner",
        fence: 1,
      });
      expect(second.record.state === "in_progress" && second.record.leaseExpiresAt).toBeGreaterThan(0);
    });

    it("complete stores the outcome; a later claim returns the exact bytes, fingerprint and fence", async () => {
      const key = freshKey();
      const owner = claimOf(randomUUID(), "fp-complete");
      await store.claim(key, owner);
      const result = utf8('{"status":201}');
      expect(await store.complete(key, owner.token, { result, retentionMs })).toBe(true);
      const again = await store.claim(key, claimOf());
      expect(again.acquired).toBe(false);
      if (again.acquired) return;
      expect(again.record.state).toBe("completed");
      expect(again.record.fingerprint).toBe("fp-complete");
      expect(again.record.fence).toBe(1);
      expect(again.record.state === "completed" && Array.from(again.record.result)).toEqual(
        Array.from(result),
      );
      const read = await store.get(key);
      expect(read?.state).toBe("completed");
    });

    it("a completed key cannot be completed, released or extended again", async () => {
      const key = freshKey();
      const owner = claimOf();
      await store.claim(key, owner);
      await store.complete(key, owner.token, { result: utf8("first"), retentionMs });
      expect(await store.complete(key, owner.token, { result: utf8("second"), retentionMs })).toBe(false);
      expect(await store.release(key, owner.token)).toBe(false);
      expect(await store.extend(key, owner.token, leaseMs)).toBe(false);
      const read = await store.get(key);
      expect(read?.state === "completed" && new TextDecoder().decode(read.result)).toBe("first");
    });

    it("complete, release and extend with a wrong token return false and change nothing", async () => {
      const key = freshKey();
      const owner = claimOf(randomUUID(), "fp-wrong");
      await store.claim(key, owner);
      const before = await store.get(key);
      const wrong = randomUUID();
      expect(await store.complete(key, wrong, { result: utf8("x"), retentionMs })).toBe(false);
      expect(await store.release(key, wrong)).toBe(false);
      expect(await store.extend(key, wrong, 60_000)).toBe(false);
      const after = await store.get(key);
      expect(after).toMatchObject({
        state: "in_progress",
        token: owner.token,
        fingerprint: "fp-wrong",
        fence: 1,
      });
      expect(after?.state === "in_progress" && after.leaseExpiresAt).toBe(
        before?.state === "in_progress" && before.leaseExpiresAt,
      );
      expect(await store.complete(key, owner.token, { result: utf8("ok"), retentionMs })).toBe(true);
    });

    it("complete, release and extend on an absent key return false and create nothing", async () => {
      const key = freshKey();
      const token = randomUUID();
      expect(await store.complete(key, token, { result: utf8("x"), retentionMs })).toBe(false);
      expect(await store.release(key, token)).toBe(false);
      expect(await store.extend(key, token, leaseMs)).toBe(false);
      expect(await store.get(key)).toBeUndefined();
      expect(await store.claim(key, claimOf())).toEqual({ acquired: true, fence: 1, takeover: false });
    });

    it("release makes the key claimable again", async () => {
      const key = freshKey();
      const owner = claimOf();
      await store.claim(key, owner);
      expect(await store.release(key, owner.token)).toBe(true);
      expect(await store.get(key)).toBeUndefined();
      const next = await store.claim(key, claimOf());
      expect(next.acquired).toBe(true);
    });

    it("release keeps the fence: claim, release, claim gets fence 2 (no takeover)", async () => {
      const key = freshKey("release-fence");
      const first = claimOf();
      expect(await store.claim(key, first)).toEqual({ acquired: true, fence: 1, takeover: false });
      expect(await store.release(key, first.token)).toBe(true);
      expect(await store.get(key)).toBeUndefined();
      expect(await store.release(key, first.token)).toBe(false);
      expect(await store.extend(key, first.token, leaseMs)).toBe(false);
      expect(await store.complete(key, first.token, { result: utf8("late"), retentionMs })).toBe(false);
      expect(await store.claim(key, claimOf())).toEqual({ acquired: true, fence: 2, takeover: false });
    });

    it("release after a takeover keeps the fence: expire, takeover (2), release, claim gets fence 3 (no takeover)", async () => {
      const key = freshKey("takeover-release-fence");
      expect(await store.claim(key, claimOf())).toEqual({ acquired: true, fence: 1, takeover: false });
      await sleep(leaseMs + toleranceMs);
      const second = claimOf();
      expect(await store.claim(key, second)).toEqual({ acquired: true, fence: 2, takeover: true });
      expect(await store.release(key, second.token)).toBe(true);
      expect(await store.get(key)).toBeUndefined();
      expect(await store.claim(key, claimOf())).toEqual({ acquired: true, fence: 3, takeover: false });
    });

    // Retention shorter than the lease ("retention 60 s, lease 5 min", scaled down): the record is
    // kept retentionMs past its lease end, so a takeover in that time sees the fence and gets a higher one.
    const longLease = 4 * leaseMs;
    const shortRetention = 2 * leaseMs;

    it("a record is kept retentionMs past its lease end, even with a retention shorter than the lease: a takeover after its purge gets fence 2", async () => {
      const key = freshKey("short-retention");
      const stalled = { ...claimOf(), leaseMs: longLease, retentionMs: shortRetention };
      expect(await store.claim(key, stalled)).toEqual({ acquired: true, fence: 1, takeover: false });
      await sleep(longLease + toleranceMs);
      expect(await store.get(key)).toBeUndefined();
      await options.purge?.(store);
      const next = { ...claimOf(), leaseMs: longLease, retentionMs: shortRetention };
      expect(await store.claim(key, next)).toEqual({ acquired: true, fence: 2, takeover: true });
      expect(await store.complete(key, stalled.token, { result: utf8("stale"), retentionMs })).toBe(false);
    });

    it("extend moves keep-until with the lease end: a takeover after the extended lease and a purge gets fence 2", async () => {
      const key = freshKey("short-retention-extend");
      const stalled = { ...claimOf(), leaseMs: longLease, retentionMs: shortRetention };
      expect(await store.claim(key, stalled)).toEqual({ acquired: true, fence: 1, takeover: false });
      // Late enough that the extended lease ends after the claim's own keep-until.
      await sleep(2.5 * leaseMs);
      expect(await store.extend(key, stalled.token, longLease)).toBe(true);
      await sleep(longLease + toleranceMs);
      expect(await store.get(key)).toBeUndefined();
      await options.purge?.(store);
      const next = { ...claimOf(), leaseMs: longLease, retentionMs: shortRetention };
      expect(await store.claim(key, next)).toEqual({ acquired: true, fence: 2, takeover: true });
    });

    it("a completed record outlives the lease: still replayable after leaseMs, via get and claim", async () => {
      const key = freshKey("retention");
      const owner = claimOf(randomUUID(), "fp-retained");
      await store.claim(key, owner);
      expect(await store.complete(key, owner.token, { result: utf8("kept"), retentionMs })).toBe(true);
      await sleep(leaseMs + toleranceMs);
      const read = await store.get(key);
      expect(read?.state).toBe("completed");
      expect(read?.state === "completed" && new TextDecoder().decode(read.result)).toBe("kept");
      const again = await store.claim(key, claimOf());
      expect(again.acquired).toBe(false);
      if (again.acquired) return;
      expect(again.record).toMatchObject({
        state: "completed",
        token: owner.token,
        fingerprint: "fp-retained",
      });
    });

    it("the fence survives completion: a completed takeover keeps the takeover's fence", async () => {
      const key = freshKey("complete-fence");
      await store.claim(key, claimOf());
      await sleep(leaseMs + toleranceMs);
      const second = claimOf();
      expect(await store.claim(key, second)).toEqual({ acquired: true, fence: 2, takeover: true });
      expect(await store.complete(key, second.token, { result: utf8("done"), retentionMs })).toBe(true);
      expect((await store.get(key))?.fence).toBe(2);
      const replay = await store.claim(key, claimOf());
      expect(!replay.acquired && replay.record.fence).toBe(2);
    });

    it("extend of an expired lease nobody took over returns false; the key stays absent and claimable (a takeover)", async () => {
      const key = freshKey("late-extend");
      const owner = claimOf();
      await store.claim(key, owner);
      await sleep(leaseMs + toleranceMs);
      expect(await store.extend(key, owner.token, 60_000)).toBe(false);
      expect(await store.get(key)).toBeUndefined();
      expect(await store.claim(key, claimOf())).toEqual({ acquired: true, fence: 2, takeover: true });
      expect(await store.complete(key, owner.token, { result: utf8("stale"), retentionMs })).toBe(false);
    });

    it("delete of an expired record returns false (expired lease, ended retention)", async () => {
      const leased = freshKey("delete-expired-lease");
      await store.claim(leased, claimOf());
      const completed = freshKey("delete-expired-retention");
      const owner = claimOf();
      await store.claim(completed, owner);
      expect(await store.complete(completed, owner.token, { result: utf8("x"), retentionMs: leaseMs })).toBe(
        true,
      );
      await sleep(leaseMs + toleranceMs);
      expect(await store.delete(leased)).toBe(false);
      expect(await store.delete(completed)).toBe(false);
      expect(await store.get(leased)).toBeUndefined();
      expect(await store.get(completed)).toBeUndefined();
      expect((await store.claim(leased, claimOf())).acquired).toBe(true);
    });

    it("deadlines are milliseconds since the epoch, near Date.now() + the requested duration", async () => {
      // Durations far apart in every unit, so that seconds-for-milliseconds bugs cannot hide.
      const slack = 60_000;
      const longLease = 10 * 60_000;
      const longRetention = 6 * 60 * 60_000;
      const near = (actual: number | undefined | false, expected: number) => {
        expect(typeof actual).toBe("number");
        expect(Math.abs((actual as number) - expected)).toBeLessThan(slack);
      };
      const key = freshKey("clock");
      const owner = { ...claimOf(), leaseMs: longLease, retentionMs: longRetention };
      expect((await store.claim(key, owner)).acquired).toBe(true);
      const conflict = await store.claim(key, claimOf());
      near(
        !conflict.acquired && conflict.record.state === "in_progress" && conflict.record.leaseExpiresAt,
        Date.now() + longLease,
      );
      const read = await store.get(key);
      near(read?.state === "in_progress" && read.leaseExpiresAt, Date.now() + longLease);
      expect(await store.extend(key, owner.token, 2 * longLease)).toBe(true);
      const extended = await store.get(key);
      near(extended?.state === "in_progress" && extended.leaseExpiresAt, Date.now() + 2 * longLease);
      expect(await store.complete(key, owner.token, { result: utf8("r"), retentionMs: longRetention })).toBe(
        true,
      );
      const done = await store.get(key);
      near(done?.state === "completed" && done.expiresAt, Date.now() + longRetention);
      const replay = await store.claim(key, claimOf());
      near(
        !replay.acquired && replay.record.state === "completed" && replay.record.expiresAt,
        Date.now() + longRetention,
      );
    });

    it.each([
      ["4096 random characters", () => randomText(4096)],
      ["8 KB", () => "k".repeat(8 * 1024)],
      ["64 KB of random characters", () => randomText(32 * 1024)],
    ])("a long key works: %s", async (_label, make) => {
      const tail = make();
      const key = `${freshKey("long")}:${tail}`;
      // Differs from `key` only in its last character: a store that truncates or hashes badly collides.
      const twin = `${key.slice(0, -1)}${key.endsWith("a") ? "b" : "a"}`;
      const owner = claimOf(randomUUID(), "fp-long");
      expect(await store.claim(key, owner)).toEqual({ acquired: true, fence: 1, takeover: false });
      expect(await store.get(twin)).toBeUndefined();
      const other = claimOf(randomUUID(), "fp-twin");
      expect(await store.claim(twin, other)).toEqual({ acquired: true, fence: 1, takeover: false });
      expect(await store.get(key)).toMatchObject({
        state: "in_progress",
        token: owner.token,
        fingerprint: "fp-long",
      });
      expect(await store.extend(key, owner.token, leaseMs)).toBe(true);
      expect(await store.complete(key, owner.token, { result: utf8("long"), retentionMs })).toBe(true);
      const replay = await store.claim(key, claimOf());
      expect(!replay.acquired && replay.record.state).toBe("completed");
      expect(await store.release(twin, other.token)).toBe(true);
      expect(await store.claim(twin, claimOf())).toEqual({ acquired: true, fence: 2, takeover: false });
      expect(await store.delete(key)).toBe(true);
      expect(await store.get(key)).toBeUndefined();
    });

    it("a retried claim with the same token is recognised as the owner's own record", async () => {
      const key = freshKey();
      const owner = claimOf(randomUUID(), "fp-retry");
      expect((await store.claim(key, owner)).acquired).toBe(true);
      const retried = await store.claim(key, owner);
      expect(retried.acquired).toBe(false);
      if (retried.acquired) return;
      expect(retried.record).toMatchObject({
        state: "in_progress",
        token: owner.token,
        fence: 1,
        takeover: false,
      });
      expect(await store.get(key)).toMatchObject({ token: owner.token, takeover: false });
      expect(await store.complete(key, owner.token, { result: utf8("done"), retentionMs })).toBe(true);
    });

    it("a retried claim with the same token after a takeover returns its record with takeover: true", async () => {
      const key = freshKey("takeover-retry");
      expect(await store.claim(key, claimOf())).toEqual({ acquired: true, fence: 1, takeover: false });
      await sleep(leaseMs + toleranceMs);
      const owner = claimOf();
      expect(await store.claim(key, owner)).toEqual({ acquired: true, fence: 2, takeover: true });
      // The reply was lost: the retry with the same token learns the takeover from the record.
      const retried = await store.claim(key, owner);
      expect(retried.acquired).toBe(false);
      if (retried.acquired) return;
      expect(retried.record).toMatchObject({
        state: "in_progress",
        token: owner.token,
        fence: 2,
        takeover: true,
      });
      expect(await store.get(key)).toMatchObject({ token: owner.token, fence: 2, takeover: true });
      // Another caller sees the flag too; extend keeps it.
      const other = await store.claim(key, claimOf());
      expect(!other.acquired && other.record).toMatchObject({ token: owner.token, takeover: true });
      expect(await store.extend(key, owner.token, leaseMs)).toBe(true);
      expect(await store.get(key)).toMatchObject({ token: owner.token, takeover: true });
      // Released, the next claim is a fresh one: its record says takeover: false.
      expect(await store.release(key, owner.token)).toBe(true);
      const next = claimOf();
      expect(await store.claim(key, next)).toEqual({ acquired: true, fence: 3, takeover: false });
      const again = await store.claim(key, next);
      expect(!again.acquired && again.record).toMatchObject({ token: next.token, fence: 3, takeover: false });
    });

    it("lease expiry makes the key claimable with a new token and a higher fence; the old token loses", async () => {
      const key = freshKey();
      const stale = claimOf(randomUUID(), "fp-lease");
      await store.claim(key, stale);
      await sleep(leaseMs + toleranceMs);
      expect(await store.get(key)).toBeUndefined();
      const fresh = claimOf(randomUUID(), "fp-lease");
      const takeover = await store.claim(key, fresh);
      expect(takeover.acquired).toBe(true);
      expect(takeover.acquired && takeover.fence).toBeGreaterThan(1);
      expect(takeover.acquired && takeover.takeover).toBe(true);
      expect(await store.complete(key, stale.token, { result: utf8("stale"), retentionMs })).toBe(false);
      expect(await store.extend(key, stale.token, 60_000)).toBe(false);
      expect(await store.release(key, stale.token)).toBe(false);
      expect(await store.complete(key, fresh.token, { result: utf8("fresh"), retentionMs })).toBe(true);
      expect(await store.complete(key, stale.token, { result: utf8("stale"), retentionMs })).toBe(false);
      const read = await store.get(key);
      expect(read?.state === "completed" && new TextDecoder().decode(read.result)).toBe("fresh");
      expect(read?.token).toBe(fresh.token);
    });

    it("complete after the lease expired, with nobody taking over, returns false", async () => {
      const key = freshKey();
      const owner = claimOf();
      await store.claim(key, owner);
      await sleep(leaseMs + toleranceMs);
      expect(await store.complete(key, owner.token, { result: utf8("late"), retentionMs })).toBe(false);
      expect(await store.get(key)).toBeUndefined();
    });

    it("retention expiry makes a completed key absent and claimable", async () => {
      const key = freshKey();
      const owner = claimOf();
      await store.claim(key, owner);
      await store.complete(key, owner.token, { result: utf8("short"), retentionMs: leaseMs });
      expect((await store.get(key))?.state).toBe("completed");
      await sleep(leaseMs + toleranceMs);
      expect(await store.get(key)).toBeUndefined();
      const next = await store.claim(key, claimOf());
      expect(next.acquired).toBe(true);
      expect(next.acquired && next.fence).toBeGreaterThanOrEqual(1);
      // A completed record past retention was not abandoned: its replacement is no takeover.
      expect(next.acquired && next.takeover).toBe(false);
    });

    it("the takeover flag: true only for a claim that replaces an expired lease nobody released", async () => {
      const key = freshKey("takeover-flag");
      const first = claimOf();
      expect(await store.claim(key, first)).toEqual({ acquired: true, fence: 1, takeover: false });
      // A retried claim of the owner's own live record acquires nothing, so it is no takeover either.
      expect((await store.claim(key, first)).acquired).toBe(false);
      expect(await store.release(key, first.token)).toBe(true);
      const second = claimOf();
      expect(await store.claim(key, second)).toEqual({ acquired: true, fence: 2, takeover: false });
      await sleep(leaseMs + toleranceMs);
      const third = claimOf();
      expect(await store.claim(key, third)).toEqual({ acquired: true, fence: 3, takeover: true });
      expect(await store.complete(key, third.token, { result: utf8("done"), retentionMs: leaseMs })).toBe(
        true,
      );
      await sleep(leaseMs + toleranceMs);
      // Retention ended: the completed record (itself a takeover) is replaced without a takeover.
      expect(await store.claim(key, claimOf())).toEqual({ acquired: true, fence: 4, takeover: false });
    });

    it("extend keeps the key from being taken past its original lease", async () => {
      const key = freshKey();
      const owner = claimOf();
      await store.claim(key, owner);
      const until = Date.now() + leaseMs * 2 + toleranceMs;
      while (Date.now() < until) {
        await sleep(leaseMs / 3);
        expect(await store.extend(key, owner.token, leaseMs)).toBe(true);
      }
      const other = await store.claim(key, claimOf());
      expect(other.acquired).toBe(false);
      expect(await store.complete(key, owner.token, { result: utf8("kept"), retentionMs })).toBe(true);
    });

    it(`concurrent claims from ${raceStores} store instances yield exactly one owner`, async () => {
      const stores = [store];
      while (stores.length < raceStores) stores.push(await make());
      for (let round = 0; round < 3; round++) {
        const key = freshKey("race");
        const claims = Array.from({ length: raceClaims }, (_, i) => claimOf(`${round}-${i}-${randomUUID()}`));
        const results = await Promise.all(claims.map((c, i) => stores[i % stores.length]!.claim(key, c)));
        const winners = results.flatMap((r, i) => (r.acquired ? [claims[i]!.token] : []));
        expect(winners).toHaveLength(1);
        for (const r of results) {
          if (!r.acquired) expect(r.record.token).toBe(winners[0]);
        }
        // Exactly one completion wins as well.
        const completions = await Promise.all(
          claims.map((c, i) =>
            stores[i % stores.length]!.complete(key, c.token, { result: utf8(c.token), retentionMs }),
          ),
        );
        expect(completions.filter(Boolean)).toHaveLength(1);
      }
    });

    it("concurrent takeovers of an expired lease yield exactly one new owner", async () => {
      const stores = [store];
      while (stores.length < raceStores) stores.push(await make());
      const key = freshKey("takeover");
      await store.claim(key, claimOf());
      await sleep(leaseMs + toleranceMs);
      const claims = Array.from({ length: raceClaims }, () => claimOf());
      const results = await Promise.all(claims.map((c, i) => stores[i % stores.length]!.claim(key, c)));
      const winners = results.filter((r) => r.acquired);
      expect(winners).toHaveLength(1);
      expect(winners[0]).toEqual({ acquired: true, fence: 2, takeover: true });
    });

    it.each([
      ["empty", new Uint8Array(0)],
      ["all 256 byte values", Uint8Array.from({ length: 256 }, (_, i) => i)],
      ["1 MiB of random bytes", new Uint8Array(randomBytes(1024 * 1024))],
      ["invalid UTF-8", Uint8Array.from([0xff, 0xfe, 0x00, 0xc3, 0x28, 0xa0, 0xa1, 0x00])],
    ])("outcome bytes round-trip exactly: %s", async (_label, result) => {
      const key = freshKey("bytes");
      const owner = claimOf();
      await store.claim(key, owner);
      expect(await store.complete(key, owner.token, { result, retentionMs })).toBe(true);
      const read = await store.get(key);
      expect(read?.state).toBe("completed");
      if (read?.state !== "completed") return;
      expect(read.result).toBeInstanceOf(Uint8Array);
      expect(read.result.length).toBe(result.length);
      expect(Buffer.from(read.result).equals(Buffer.from(result))).toBe(true);
      const claimed = await store.claim(key, claimOf());
      expect(!claimed.acquired && claimed.record.state === "completed" && claimed.record.result.length).toBe(
        result.length,
      );
    });

    it("awkward keys neither collide nor break", async () => {
      const base = freshKey("awkward");
      const suffixes = [
        "",
        "ünïcødé-🔑-键",
        "a:b",
        "a",
        "a:b:c",
        "{tag}",
        "{tag}x",
        "%41",
        "A",
        "quote'single",
        'quote"double',
        "back\\slash",
        "with space",
        "with  space",
        "semi;colon--",
        "x".repeat(300),
        `${"y".repeat(255)}é`,
        "null\u0000byte",
        "new\nline",
        "*?[]",
      ];
      const keys = suffixes.map((s) => `${base}:${s}`);
      expect(new Set(keys).size).toBe(keys.length);
      for (const [i, key] of keys.entries()) {
        const result = await store.claim(key, claimOf(`token-${i}`, `fp-${i}`));
        expect(result, `claim of awkward key #${i}`).toEqual({ acquired: true, fence: 1, takeover: false });
      }
      for (const [i, key] of keys.entries()) {
        const read = await store.get(key);
        expect(read, `get of awkward key #${i}`).toMatchObject({
          token: `token-${i}`,
          fingerprint: `fp-${i}`,
        });
        expect(await store.complete(key, `token-${i}`, { result: utf8(`r-${i}`), retentionMs })).toBe(true);
      }
      for (const [i, key] of keys.entries()) {
        const read = await store.get(key);
        expect(read?.state === "completed" && new TextDecoder().decode(read.result)).toBe(`r-${i}`);
      }
      // A prefix of a key is a different key.
      expect(await store.get(base.slice(0, -1))).toBeUndefined();
    });

    it("get returns undefined for an unknown key; delete purges any state", async () => {
      const key = freshKey();
      expect(await store.get(key)).toBeUndefined();
      expect(await store.delete(key)).toBe(false);
      const owner = claimOf();
      await store.claim(key, owner);
      expect(await store.delete(key)).toBe(true);
      expect(await store.get(key)).toBeUndefined();
      expect(await store.complete(key, owner.token, { result: utf8("x"), retentionMs })).toBe(false);
      const next = claimOf();
      await store.claim(key, next);
      await store.complete(key, next.token, { result: utf8("y"), retentionMs });
      expect(await store.delete(key)).toBe(true);
      expect(await store.get(key)).toBeUndefined();
      expect((await store.claim(key, claimOf())).acquired).toBe(true);
    });
  });
}
