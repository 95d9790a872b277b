import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSqliteStore } from "@idemkit/sqlite";
import BetterSqlite3 from "better-sqlite3";
import { idemkitContender, RETENTION_MS } from "./idemkit.js";
import { sha256 } from "./memory.js";
import { type Contender, InFlightError, TAKEOVER_LEASE_MS } from "./types.js";

/**
 * A fresh database file of its own in WAL mode, as every SQLite contender gets one: a WAL checkpoint
 * copies every page the log holds, so in a shared file the contender whose commit crosses the checkpoint
 * threshold paid for the other's pages too.
 */
export function benchDatabase(options?: BetterSqlite3.Options): BetterSqlite3.Database {
  const db = new BetterSqlite3(join(mkdtempSync(join(tmpdir(), "idemkit-bench-")), "bench.db"), options);
  db.pragma("journal_mode = WAL");
  return db;
}

/**
 * Counts the statements `db` runs, with a wrapper on each statement it prepares from now on. Not
 * better-sqlite3's `verbose` log: that formats every statement's SQL with its bound values (the
 * outcome too) on every run, which cost each contender about a fifth of its throughput.
 */
export function countStatements(db: BetterSqlite3.Database, counter: { count: number }): void {
  const prepare = db.prepare.bind(db);
  db.prepare = ((source: string) => {
    const statement = prepare(source) as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const method of ["run", "get", "all", "iterate"]) {
      const call = statement[method]!.bind(statement);
      statement[method] = (...args: unknown[]) => {
        counter.count++;
        return call(...args);
      };
    }
    return statement;
  }) as unknown as typeof db.prepare;
}

export function sqliteIdemkit(db: BetterSqlite3.Database): Contender {
  return idemkitContender("sqlite", createSqliteStore({ database: db }));
}

/**
 * The hand-written baseline on the same better-sqlite3 connection: an upsert that claims the key
 * when it is absent or its lease ended (`RETURNING` says whether it did), a `SELECT` otherwise, and
 * an `UPDATE` that completes it (no owner check).
 */
export function sqliteBaseline(db: BetterSqlite3.Database): Contender {
  const { claim, select, complete, remove } = baselineStatements(db);
  const take = (key: string, fingerprint: string, leaseMs: number) => {
    const now = Date.now();
    return claim.get(key, fingerprint, now + leaseMs, now) !== undefined;
  };
  return {
    name: "baseline",
    store: "sqlite",
    async run(key, input, work) {
      const fingerprint = sha256(input);
      if (!take(key, fingerprint, 30_000)) {
        const row = select.get(key) as { done: number; fingerprint: string; result: string | null };
        if (row.fingerprint !== fingerprint) throw new Error("fingerprint mismatch");
        if (!row.done) throw new InFlightError(key);
        return JSON.parse(row.result!);
      }
      let value: unknown;
      try {
        value = await work();
      } catch (error) {
        remove.run(key);
        throw error;
      }
      complete.run(JSON.stringify(value), Date.now() + RETENTION_MS, key);
      return value;
    },
    async abandon(key, input) {
      take(key, sha256(input), TAKEOVER_LEASE_MS);
    },
    async close() {},
  };
}

/** The baseline's table and statements (claim: key, fingerprint, deadline, now; complete: result, deadline, key). */
export function baselineStatements(db: BetterSqlite3.Database) {
  db.exec(`CREATE TABLE IF NOT EXISTS bench_baseline (
    key TEXT PRIMARY KEY, done INTEGER NOT NULL, fingerprint TEXT NOT NULL, result TEXT, deadline INTEGER NOT NULL)`);
  return {
    claim: db.prepare(
      `INSERT INTO bench_baseline (key, done, fingerprint, result, deadline) VALUES (?, 0, ?, NULL, ?)
       ON CONFLICT (key) DO UPDATE SET done = 0, fingerprint = excluded.fingerprint, result = NULL,
         deadline = excluded.deadline WHERE bench_baseline.deadline <= ? RETURNING 1 AS ok`,
    ),
    select: db.prepare("SELECT done, fingerprint, result FROM bench_baseline WHERE key = ?"),
    complete: db.prepare("UPDATE bench_baseline SET done = 1, result = ?, deadline = ? WHERE key = ?"),
    remove: db.prepare("DELETE FROM bench_baseline WHERE key = ?"),
  };
}
