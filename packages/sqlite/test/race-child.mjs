// A child process of src/multi-process.test.ts, run by node directly against the package's transpiled source.
// argv: <URL of its index.js> <mode> <database file> <key prefix> <key count> <worker id> [hold ms] [commit|throw]
import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";

const [moduleUrl, mode, file, prefix, count, id, holdMs = "0", ending = "commit"] = process.argv.slice(2);
const { createSqliteStore } = await import(moduleUrl);
const keys = Array.from({ length: Number(count) }, (_, i) => `${prefix}:${i}`);
const utf8 = (text) => new TextEncoder().encode(text);
const sleepSync = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
const store = createSqliteStore({ database: file });
store.database.exec("CREATE TABLE IF NOT EXISTS orders (key TEXT NOT NULL, worker TEXT NOT NULL)");
const insertOrder = store.database.prepare("INSERT INTO orders (key, worker) VALUES (?, ?)");
const report = { id, acquired: [], seen: [], errors: [] };
// Every worker claims key i at startAt + i * SLOT_MS, so the workers collide on each key.
const SLOT_MS = 3;
let startAt = 0;
const waitForSlot = (i) => {
  while (Date.now() < startAt + i * SLOT_MS);
};

async function claimAll() {
  for (const [i, key] of keys.entries()) {
    waitForSlot(i);
    try {
      const token = `${id}:${randomUUID()}`;
      const claim = await store.claim(key, {
        token,
        fingerprint: "fp",
        leaseMs: 30_000,
        retentionMs: 60_000,
      });
      if (!claim.acquired) {
        report.seen.push(claim.record.token);
        continue;
      }
      report.acquired.push(key);
      if (!(await store.complete(key, token, { result: utf8(id), retentionMs: 60_000 }))) {
        report.errors.push(`complete lost ${key}`);
      }
    } catch (error) {
      report.errors.push(error.code ?? String(error));
    }
  }
}

function transactAll() {
  for (const [i, key] of keys.entries()) {
    waitForSlot(i);
    try {
      const run = store.transactionSync(key, { fingerprint: "fp", retentionMs: 60_000 }, ({ client }) => {
        if (client !== store.database) throw new Error("wrong client");
        insertOrder.run(key, id);
        // Tells the parent the transaction (and its write lock) is held right now.
        if (process.env.IDEMKIT_MARKER) writeFileSync(process.env.IDEMKIT_MARKER, key);
        sleepSync(Number(holdMs));
        if (ending === "throw") throw new Error("work failed");
        return { value: id, result: utf8(id), commit: true };
      });
      if (run.acquired) report.acquired.push(key);
      else report.seen.push(run.record.state);
    } catch (error) {
      report.errors.push(error.code ?? error.message);
    }
  }
}

process.once("message", async (go) => {
  startAt = go.startAt;
  if (mode === "claim") await claimAll();
  else transactAll();
  await store.close();
  process.send(report, () => process.exit(0));
});
process.send("ready");
