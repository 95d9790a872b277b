// Child process of src/malformed.test.ts: rows the store cannot read, written straight into its table,
// then claimed, read and deleted through the store and through core. A claim that loops for ever in
// synchronous code stops this whole process (no timer can fire), so the parent runs it here, with a
// deadline, and reads one `RESULT <json>` line.
// argv: <URL of the package's index.js, transpiled from src> <JSON list of [label, column, SQL value]>
import { createIdempotency } from "@idemkit/core";
import Database from "better-sqlite3";

const [moduleUrl, casesJson] = process.argv.slice(2);
const { createSqliteStore } = await import(moduleUrl);
const cases = JSON.parse(casesJson);
const db = new Database(":memory:");
const store = createSqliteStore({ database: db });
const day = 86_400_000;
const far = Date.now() + day;
const claimOf = (token) => ({ token, fingerprint: "fp", leaseMs: 30_000, retentionMs: day });
const outcome = (promise) =>
  promise.then(
    (value) => ({ ok: true, value: JSON.parse(JSON.stringify(value)) }),
    (error) => ({ ok: false, message: String(error?.message ?? error) }),
  );

const insert = (key, state, column, value) => {
  const row = {
    state: `'${state}'`,
    token: "'owner'",
    fingerprint: "'fp'",
    fence: "1",
    result: state === "completed" ? "X'6f6b'" : "NULL",
    expires_at: String(far),
    keep_until: String(far),
    takeover: "0",
    claimed_at: "0",
    [column]: value,
  };
  db.prepare(
    `INSERT INTO idemkit_keys (key, state, token, fingerprint, fence, result, expires_at, keep_until, takeover,
                               claimed_at)
     VALUES (?, ${row.state}, ${row.token}, ${row.fingerprint}, ${row.fence}, ${row.result}, ${row.expires_at},
             ${row.keep_until}, ${row.takeover}, ${row.claimed_at})`,
  ).run(key);
};

const report = { store: [], core: undefined };
for (const [label, state, column, value] of cases) {
  const key = `bad:${label}`;
  insert(key, state, column, value);
  const claim = await outcome(store.claim(key, claimOf("t1")));
  const get = await outcome(store.get(key));
  const other = await outcome(store.claim(`good:${label}`, claimOf("t2")));
  const removed = await outcome(store.delete(key));
  const after = await outcome(store.claim(key, claimOf("t3")));
  report.store.push({ label, claim, get, other, removed, after });
}

// Through core: a key whose row is then spoilt gets 503 and a store-error event; another key is
// served as usual.
const events = [];
const idem = createIdempotency({ store, scope: "global", onEvent: (event) => events.push(event.type) });
const route = idem.wrap(async () => new Response("created", { status: 201 }));
const post = (key) =>
  route(new Request("http://x/orders", { method: "POST", headers: { "idempotency-key": key } }));
const first = await post("broken");
db.prepare("UPDATE idemkit_keys SET expires_at = 'soon' WHERE key LIKE '%broken'").run();
const broken = await post("broken");
const fine = await post("fine");
report.core = { first: first.status, broken: broken.status, fine: fine.status, events };
console.log(`RESULT ${JSON.stringify(report)}`);
