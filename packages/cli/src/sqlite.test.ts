// The CLI on SQLite: a database file an app's store wrote (see testing/scenario.ts).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSqliteStore, type SqliteStore } from "@idemkit/sqlite";
import { afterAll } from "vitest";
import { storeScenario } from "./testing/scenario.js";

const dir = mkdtempSync(join(tmpdir(), "idemkit-cli-sqlite-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// A table name with a space: --table reaches it, quoted.
const table = "my keys";
storeScenario(`idemkit on SQLite, table ${JSON.stringify(table)}`, false, () => {
  const file = join(dir, "idem.db");
  let store: SqliteStore;
  return {
    async store() {
      store = createSqliteStore({ database: file, table });
      return store;
    },
    close: async () => store?.close(),
    async age(key) {
      const t = `"${table}"`;
      store.database.prepare(`UPDATE ${t} SET claimed_at = claimed_at - 600000 WHERE key = ?`).run(key);
    },
    args: ["--url", `sqlite:${file}`, "--table", table],
    purges: true,
  };
});
