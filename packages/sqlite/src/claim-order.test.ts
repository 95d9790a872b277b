// A claim tries the conditional write first or the read first, as the store's last claim found
// (sqlite-store.ts, `readFirst`): a stream of new keys costs one statement each, a burst of replays
// one each. Both orders give the same answers; these tests count the statements and check the answers.
import { randomUUID } from "node:crypto";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { createSqliteStore } from "./index.js";

const claimOf = (leaseMs = 60_000) => ({
  token: randomUUID(),
  fingerprint: "fp",
  leaseMs,
  retentionMs: 60_000,
});
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A store on an in-memory database whose statements are recorded as they run (first word only). */
function counted() {
  const ran: string[] = [];
  const db = new Database(":memory:", {
    verbose: (sql) => void ran.push(String(sql).trim().split(/\s/)[0]!),
  });
  const store = createSqliteStore({ database: db, purgeEvery: 0 });
  return {
    store,
    db,
    /** The statements `action` ran. */
    async during(action: () => Promise<unknown>) {
      ran.length = 0;
      await action();
      return [...ran];
    },
  };
}

describe("the order of a claim's statements", () => {
  it("new keys after new keys: one write each", async () => {
    const { store, during } = counted();
    await store.claim("a", claimOf());
    expect(await during(() => store.claim("b", claimOf()))).toEqual(["INSERT"]);
    expect(await during(() => store.claim("c", claimOf()))).toEqual(["INSERT"]);
  });

  it("a live key after a new one: the write finds it, then the read returns it; the next live key is read alone", async () => {
    const { store, during } = counted();
    const owner = claimOf();
    await store.claim("k", owner);
    await store.complete("k", owner.token, { result: new Uint8Array([1, 2]), retentionMs: 60_000 });
    let replay: unknown;
    expect(
      await during(async () => {
        replay = await store.claim("k", claimOf());
      }),
    ).toEqual(["INSERT", "SELECT"]);
    expect(replay).toMatchObject({
      acquired: false,
      record: { state: "completed", token: owner.token, fence: 1 },
    });
    expect(await during(() => store.claim("k", claimOf()))).toEqual(["SELECT"]);
    // A conflict (a live lease) is read alone as well.
    const busy = claimOf();
    await store.claim("busy", busy);
    await store.claim("k", claimOf());
    expect(await during(() => store.claim("busy", claimOf()))).toEqual(["SELECT"]);
  });

  it("after a replay, a new key is read (absent), then written; the next one is written alone", async () => {
    const { store, during } = counted();
    const owner = claimOf();
    await store.claim("k", owner);
    await store.claim("k", claimOf()); // found live: the next claim reads first
    let fresh: unknown;
    expect(
      await during(async () => {
        fresh = await store.claim("new-1", claimOf());
      }),
    ).toEqual(["SELECT", "INSERT"]);
    expect(fresh).toEqual({ acquired: true, fence: 1, takeover: false });
    expect(await during(() => store.claim("new-2", claimOf()))).toEqual(["INSERT"]);
  });

  it("a takeover gets the next fence and the takeover flag in either order", async () => {
    const { store } = counted();
    // Write first: the last claim acquired.
    await store.claim("t1", claimOf(20));
    await store.claim("t2", claimOf(20));
    await sleep(40);
    expect(await store.claim("t1", claimOf())).toEqual({ acquired: true, fence: 2, takeover: true });
    // Read first: the last claim found a live row.
    await store.claim("t1", claimOf());
    expect(await store.claim("t2", claimOf())).toEqual({ acquired: true, fence: 2, takeover: true });
  });

  it("an expired row whose fence is text is named, in either order, and never claimed with fence 1", async () => {
    const { store, db } = counted();
    const insertBroken = (key: string) =>
      db
        .prepare(
          `INSERT INTO idemkit_keys (key, state, token, fingerprint, fence, result, expires_at, keep_until,
             takeover, claimed_at) VALUES (?, 'in_progress', 't', 'fp', 'one', NULL, 1, 9e15, 0, 0)`,
        )
        .run(key);
    insertBroken("broken-1");
    insertBroken("broken-2");
    await store.claim("fresh", claimOf()); // write first
    await expect(store.claim("broken-1", claimOf())).rejects.toThrow(
      /"broken-1" is not an idemkit record \(fence is/,
    );
    const owner = claimOf();
    await store.claim("live", owner);
    await store.claim("live", claimOf()); // read first
    await expect(store.claim("broken-2", claimOf())).rejects.toThrow(
      /"broken-2" is not an idemkit record \(fence is/,
    );
    expect(db.prepare("SELECT fence FROM idemkit_keys WHERE key LIKE 'broken-%'").pluck().all()).toEqual([
      "one",
      "one",
    ]);
  });
});
