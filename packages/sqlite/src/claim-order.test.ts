// A claim tries the conditional write first or the read first, as the store's last claim found
// (sqlite-store.ts, `readFirst`): a stream of new keys costs one statement each, a burst of replays
// one each. Both orders give the same answers; these tests count the statements and check the answers.
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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

  // Each makes an ended row one `malformed` refuses: whichever statement a claim runs first, it names
  // the row and never overwrites it (the write takes only rows the read accepts).
  const broken: [string, string, string][] = [
    ["fence text", "in_progress", "fence = 'one'"],
    ["fence 0", "in_progress", "fence = 0"],
    ["fence 1.5", "in_progress", "fence = 1.5"],
    ["token blob", "in_progress", "token = X'6f'"],
    ["fingerprint blob", "in_progress", "fingerprint = X'00'"],
    ["takeover 7", "in_progress", "takeover = 7"],
    ["expires_at -Infinity", "in_progress", "expires_at = -9e999"],
    ["result NULL", "completed", "result = NULL"],
    ["result text", "completed", "result = 'not bytes'"],
  ];
  for (const order of ["write", "read"] as const) {
    for (const [what, state, change] of broken) {
      it(`an ended row with ${what} is named, not claimed, when the claim ${order}s first`, async () => {
        const { store, db } = counted();
        db.prepare(
          `INSERT INTO idemkit_keys (key, state, token, fingerprint, fence, result, expires_at, keep_until,
             takeover, claimed_at) VALUES ('bad', ?, 't', 'fp', 3, X'01', 1, 9e15, 0, 0)`,
        ).run(state);
        db.exec(`UPDATE idemkit_keys SET ${change} WHERE key = 'bad'`);
        const before = db.prepare("SELECT * FROM idemkit_keys WHERE key = 'bad'").get();
        await store.claim("fresh", claimOf());
        if (order === "read") {
          await store.claim("fresh", claimOf()); // found live: the next claim reads first
        }
        await expect(store.claim("bad", claimOf())).rejects.toThrow(/"bad" is not an idemkit record \(/);
        expect(db.prepare("SELECT * FROM idemkit_keys WHERE key = 'bad'").get()).toEqual(before);
      });
    }
  }

  it("an ended row whose fence is a whole REAL (a column typed DOUBLE) is taken over in either order", async () => {
    const db = new Database(":memory:");
    db.exec(`CREATE TABLE idemkit_keys (key TEXT NOT NULL PRIMARY KEY, state TEXT NOT NULL, token TEXT NOT NULL,
      fingerprint TEXT NOT NULL, fence DOUBLE NOT NULL, result BLOB, expires_at INTEGER NOT NULL,
      keep_until INTEGER NOT NULL, takeover INTEGER NOT NULL DEFAULT 0, claimed_at INTEGER NOT NULL)`);
    const store = createSqliteStore({ database: db, createSchema: false, purgeEvery: 0 });
    await store.claim("a", claimOf(20));
    await store.claim("b", claimOf(20));
    expect(db.prepare("SELECT typeof(fence) FROM idemkit_keys WHERE key = 'a'").pluck().get()).toBe("real");
    await sleep(40);
    expect(await store.claim("a", claimOf())).toEqual({ acquired: true, fence: 2, takeover: true });
    await store.claim("a", claimOf()); // found live: the next claim reads first
    expect(await store.claim("b", claimOf())).toEqual({ acquired: true, fence: 2, takeover: true });
  });

  it("a replay after an acquiring claim, while another connection holds the write lock, is answered from the row", async () => {
    const dir = mkdtempSync(join(tmpdir(), "idemkit-claim-order-"));
    const file = join(dir, "locked.db");
    const ran: string[] = [];
    const db = new Database(file, {
      timeout: 100,
      verbose: (sql) => void ran.push(String(sql).trim().split(/\s/)[0]!),
    });
    db.pragma("journal_mode = WAL");
    const store = createSqliteStore({ database: db, purgeEvery: 0 });
    const other = new Database(file);
    try {
      const owner = claimOf();
      await store.claim("done", owner);
      await store.complete("done", owner.token, { result: new Uint8Array([7]), retentionMs: 60_000 });
      await store.claim("fresh", claimOf()); // acquired: the next claim writes first
      other.exec("BEGIN IMMEDIATE");
      // The write waits out the busy timeout; the live row answers the replay all the same.
      expect(await store.claim("done", claimOf())).toMatchObject({
        acquired: false,
        record: { state: "completed", token: owner.token },
      });
      // A new key needs the lock: it fails as the write did.
      await expect(store.claim("another", claimOf())).rejects.toMatchObject({ code: "SQLITE_BUSY" });
      // The claim after a failed one reads first: a replay is answered without asking for the lock.
      ran.length = 0;
      expect(await store.claim("done", claimOf())).toMatchObject({ acquired: false });
      expect(ran).toEqual(["SELECT"]);
      other.exec("ROLLBACK");
      expect(await store.claim("another", claimOf())).toEqual({ acquired: true, fence: 1, takeover: false });
    } finally {
      other.close();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
