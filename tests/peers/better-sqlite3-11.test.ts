// @idemkit/sqlite's peer range is `^11 || ^12`; the package's own tests run on 12. This runs the store
// conformance suite on better-sqlite3 11 (the `better-sqlite3-11` alias): the store's own
// `import "better-sqlite3"` is redirected to 11, so the store opens its file with 11 as a user's app
// with 11 installed would, and a Database made by the app with 11 is passed in as well.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runStoreConformance } from "@idemkit/conformance";
import { createSqliteStore, type SqliteStore } from "@idemkit/sqlite";
import Database11 from "better-sqlite3-11";
import { afterAll, describe, expect, it, vi } from "vitest";

vi.mock("better-sqlite3", async () => await import("better-sqlite3-11"));

const require = createRequire(import.meta.url);
const version = (
  JSON.parse(readFileSync(require.resolve("better-sqlite3-11/package.json"), "utf8")) as {
    version: string;
  }
).version;

const dir = mkdtempSync(join(tmpdir(), "idemkit-sqlite11-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe(`better-sqlite3 ${version}`, () => {
  it("is major 11, and the store opens its file with it", async () => {
    expect(version).toMatch(/^11\./);
    const store = createSqliteStore({ database: join(dir, "check.db") });
    try {
      expect(store.database).toBeInstanceOf(Database11);
      expect(store.database.pragma("journal_mode", { simple: true })).toBe("wal");
    } finally {
      await store.close();
    }
  });

  it("runs a claim, a completion and a replay on a Database the app opened with 11", async () => {
    const db = new Database11(":memory:");
    const store = createSqliteStore({ database: db });
    const claim = { token: "t1", fingerprint: "fp", leaseMs: 60_000, retentionMs: 60_000 };
    expect(await store.claim("k", claim)).toEqual({ acquired: true, fence: 1, takeover: false });
    await store.close();
    expect(db.open).toBe(true);
    db.close();
  });
});

// The store opens the file itself (with 11, through the mock), one connection per instance.
const file = join(dir, "conformance.db");
runStoreConformance<SqliteStore>({
  name: `sqlite on better-sqlite3 ${version}`,
  createStore: () => createSqliteStore({ database: file }),
  teardown: (store) => store.close(),
  purge: (store) => store.purgeExpired(),
});
