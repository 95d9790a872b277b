import { fork } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSqliteStore, type SqliteStore } from "./index.js";
import { packageDir, transpiledPackage } from "./test-support.js";

// The children run this package's source, transpiled into a folder of its own (test-support.ts), not
// into dist: other tests load the built package meanwhile, and a compile rewrites its files in place.
const child = join(packageDir, "test", "race-child.mjs");
const PROCESSES = 4;
const KEYS = 50;

interface Report {
  id: string;
  acquired: string[];
  seen: string[];
  errors: string[];
}

const dir = mkdtempSync(join(tmpdir(), "idemkit-sqlite-mp-"));
const file = join(dir, "shared.db");
let store: SqliteStore;

let moduleUrl: string;
let transpiledDir: string | undefined;

beforeAll(async () => {
  transpiledDir = await transpiledPackage();
  moduleUrl = pathToFileURL(join(transpiledDir, "index.js")).href;
  store = createSqliteStore({ database: file });
  store.database.exec("CREATE TABLE IF NOT EXISTS orders (key TEXT NOT NULL, worker TEXT NOT NULL)");
}, 60_000);

afterAll(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
  if (transpiledDir) rmSync(transpiledDir, { recursive: true, force: true });
});

/** Forks the workers, starts them together once all are ready, and collects their reports. */
async function race(args: (id: string) => string[], env: NodeJS.ProcessEnv = {}): Promise<Report[]> {
  const workers = Array.from({ length: PROCESSES }, (_, i) =>
    fork(child, [moduleUrl, ...args(`w${i}`)], { execArgv: [], env: { ...process.env, ...env } }),
  );
  const ready = workers.map((w) => new Promise((resolve) => w.once("message", resolve)));
  await Promise.all(ready);
  const reports = workers.map(
    (w) =>
      new Promise<Report>((resolve, reject) => {
        w.once("message", (m) => resolve(m as Report));
        w.once("exit", (code) => reject(new Error(`worker exited with ${code} before reporting`)));
      }),
  );
  const startAt = Date.now() + 100;
  for (const w of workers) w.send({ startAt });
  return Promise.all(reports);
}

function spawnOne(args: string[], env: NodeJS.ProcessEnv) {
  const w = fork(child, [moduleUrl, ...args], { execArgv: [], env: { ...process.env, ...env } });
  const ready = new Promise((resolve) => w.once("message", resolve));
  const report = ready.then(
    () =>
      new Promise<Report>((resolve) => {
        w.once("message", (m) => resolve(m as Report));
        w.send({ startAt: 0 });
      }),
  );
  return report;
}

async function until(condition: () => boolean, timeoutMs = 10_000) {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe(`sqlite across ${PROCESSES} processes sharing one file`, () => {
  it(`claims ${KEYS} keys with exactly one owner per key and no SQLITE_BUSY`, async () => {
    const prefix = `claim:${randomUUID()}`;
    const reports = await race((id) => ["claim", file, prefix, String(KEYS), id]);
    expect(reports.flatMap((r) => r.errors)).toEqual([]);
    const owners = new Map<string, string[]>();
    for (const r of reports)
      for (const key of r.acquired) owners.set(key, [...(owners.get(key) ?? []), r.id]);
    expect(owners.size).toBe(KEYS);
    for (const [key, ids] of owners) {
      expect(ids, key).toHaveLength(1);
      const record = await store.get(key);
      expect(record?.state).toBe("completed");
      expect(record?.token.startsWith(`${ids[0]}:`)).toBe(true);
      expect(record?.state === "completed" && new TextDecoder().decode(record.result)).toBe(ids[0]);
    }
    // Every loser saw a record, and it was the winner's.
    expect(reports.reduce((n, r) => n + r.seen.length, 0)).toBe(KEYS * (PROCESSES - 1));
  }, 30_000);

  it(`runs transactional work once per key: business row and key commit together`, async () => {
    const prefix = `tx:${randomUUID()}`;
    const reports = await race((id) => ["tx", file, prefix, String(KEYS), id]);
    expect(reports.flatMap((r) => r.errors)).toEqual([]);
    const orders = store.database
      .prepare("SELECT key, worker FROM orders WHERE key LIKE ? ORDER BY key")
      .all(`${prefix}:%`) as { key: string; worker: string }[];
    expect(orders).toHaveLength(KEYS);
    expect(new Set(orders.map((o) => o.key)).size).toBe(KEYS);
    for (const order of orders) {
      const record = await store.get(order.key);
      expect(record?.state === "completed" && new TextDecoder().decode(record.result)).toBe(order.worker);
    }
    expect(reports.reduce((n, r) => n + r.seen.filter((s) => s === "completed").length, 0)).toBe(
      KEYS * (PROCESSES - 1),
    );
  }, 30_000);

  it.each([
    ["commits", "commit"],
    ["throws", "throw"],
  ])("a duplicate in this process waits while another process's transaction %s", async (_label, ending) => {
    const prefix = `hold:${randomUUID()}`;
    const key = `${prefix}:0`;
    const marker = join(dir, `${randomUUID()}.marker`);
    const done = spawnOne(["tx", file, prefix, "1", "other", "400", ending], { IDEMKIT_MARKER: marker });
    await until(() => existsSync(marker));
    let ran = false;
    const started = Date.now();
    const run = store.transactionSync(
      key,
      { fingerprint: "fp", retentionMs: 60_000 },
      ({ client, fence }) => {
        ran = true;
        client.prepare("INSERT INTO orders (key, worker) VALUES (?, ?)").run(key, "parent");
        return { value: fence, result: new TextEncoder().encode("parent"), commit: true };
      },
    );
    expect(Date.now() - started).toBeGreaterThan(100); // it blocked on the other transaction
    const report = await done;
    const orders = store.database.prepare("SELECT worker FROM orders WHERE key = ?").pluck().all(key);
    if (ending === "commit") {
      expect(report.acquired).toEqual([key]);
      expect(ran).toBe(false);
      expect(run.acquired).toBe(false);
      expect(
        !run.acquired && run.record.state === "completed" && new TextDecoder().decode(run.record.result),
      ).toBe("other");
      expect(orders).toEqual(["other"]);
    } else {
      expect(report.errors).toEqual(["work failed"]);
      expect(ran).toBe(true);
      expect(run).toEqual({ acquired: true, fence: 1, value: 1, committed: true });
      expect(orders).toEqual(["parent"]);
    }
  });
});
