// Child process for the connection-loss tests (src/connection-loss.test.ts): runs one transaction whose
// connection dies mid-work, then a second one on the same pool, and prints what its caller saw as one
// `RESULT <json>` line. A crash (an 'error' event nobody listens to) shows as a non-zero exit.
// The pool has max 1 and no 'error' listener of its own: a dead client handed back as healthy makes the
// next transaction fail, and an error leaking to the pool would crash the process.
// argv: <package index URL> <DATABASE_URL> <table options JSON> <business table SQL> <scenario> <key>
import pg from "pg";

const [moduleUrl, url, tableOptions, business, scenario, key] = process.argv.slice(2);
const { createPostgresStore } = await import(moduleUrl);
const applicationName = `idemkit-loss-${process.pid}`;
const pool = new pg.Pool({ connectionString: url, max: 1, application_name: applicationName });
const store = createPostgresStore({ pool, ...JSON.parse(tableOptions) });
const admin = new pg.Client({ connectionString: url });
admin.on("error", () => {});
await admin.connect();

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const bytes = (text) => new TextEncoder().encode(text);
const releases = [];
pool.on("release", (error) => releases.push(error ? String(error.message ?? error) : null));

/** Waits (outside the database) until the backend `pid` has exited, then lets the client read its socket. */
async function gone(pid) {
  for (const until = Date.now() + 20_000; Date.now() < until; await sleep(50)) {
    const { rowCount } = await admin.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1", [pid]);
    if (rowCount === 0) {
      await sleep(300);
      return;
    }
  }
  throw new Error(`backend ${pid} is still there`);
}

async function begin(client) {
  await client.query(`INSERT INTO ${business} (id) VALUES ($1)`, [key]);
  return (await client.query("SELECT pg_backend_pid() AS pid")).rows[0].pid;
}

const ok = (value) => ({ value, result: bytes(value), commit: true });

/** Each scenario's work: the connection dies while it runs. */
const works = {
  // Terminated while the work awaits something outside the database; the work then returns commit: true.
  async "terminate-awaiting"({ client }) {
    const pid = await begin(client);
    await admin.query("SELECT pg_terminate_backend($1)", [pid]);
    await gone(pid);
    return ok("terminate-awaiting");
  },
  // Terminated during the work's own query: the query rejects and the work lets it through.
  async "terminate-query"({ client }) {
    const pid = await begin(client);
    const query = client.query("SELECT pg_sleep(60)");
    query.catch(() => {}); // it rejects before the work awaits it, below
    for (let n = 0; ; n++) {
      const { rows } = await admin.query("SELECT state FROM pg_stat_activity WHERE pid = $1", [pid]);
      if (rows[0]?.state === "active") break;
      if (n > 400) throw new Error("the work's query never started");
      await sleep(25);
    }
    await admin.query("SELECT pg_terminate_backend($1)", [pid]);
    await query;
    return ok("terminate-query");
  },
  // idle_in_transaction_session_timeout fires while the work awaits something outside the database.
  async "idle-timeout"({ client }) {
    const pid = await begin(client);
    await client.query("SET idle_in_transaction_session_timeout = 200");
    await gone(pid);
    return ok("idle-timeout");
  },
};

const claim = { fingerprint: "fp", retentionMs: 60_000 };
const report = { scenario };
const settle = (promise) =>
  promise.then(
    (value) => ({ resolved: value }),
    (error) => ({
      rejected: {
        name: error?.name,
        message: String(error?.message ?? error),
        code: error?.code,
        causeCode: error?.cause?.code,
      },
    }),
  );

if (scenario === "terminate-waiting-claim" || scenario === "lease-terminate-waiting-claim") {
  // A duplicate's claim waits on the key's row lock (another transaction holds the key uncommitted)
  // and its backend is terminated while it waits: the store's own statement fails, not the work's.
  const holderPool = new pg.Pool({ connectionString: url, max: 1 });
  const holder = createPostgresStore({ pool: holderPool, ...JSON.parse(tableOptions) });
  let finish;
  const finished = new Promise((resolve) => {
    finish = resolve;
  });
  let entered;
  const inside = new Promise((resolve) => {
    entered = resolve;
  });
  const first = holder.transaction(key, claim, async () => {
    entered();
    await finished;
    return ok("first");
  });
  await inside;
  const waiting =
    scenario === "terminate-waiting-claim"
      ? store.transaction(key, claim, async () => ok("second"))
      : store.claim(key, { token: "lease", fingerprint: "fp", leaseMs: 30_000, retentionMs: 60_000 });
  const outcome = settle(waiting);
  for (let n = 0; ; n++) {
    const { rows } = await admin.query(
      "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
      [applicationName],
    );
    if (rows[0]) {
      await admin.query("SELECT pg_terminate_backend($1)", [rows[0].pid]);
      break;
    }
    if (n > 800) throw new Error("the duplicate's claim never waited on the lock");
    await sleep(25);
  }
  report.outcome = await outcome;
  report.releasesAfterLoss = [...releases];
  finish();
  report.first = await settle(first);
  report.record = (await store.get(key)) ?? null;
  report.next = await store
    .transaction(`${key}:next`, claim, async () => ok("next"))
    .then(
      (value) => ({ acquired: value.acquired, committed: value.committed }),
      (error) => ({ error: String(error?.message ?? error) }),
    );
  await holderPool.end();
} else if (scenario === "http-terminate-awaiting") {
  // Through core's HTTP layer: a store failure is 503 store-unavailable.
  const { createIdempotency } = await import("@idemkit/core");
  const idem = createIdempotency({ store, scope: "global", storeTimeoutMs: 10_000 });
  const handler = idem.transactional(store).wrap(async (_request, { client }) => {
    const pid = await begin(client);
    await admin.query("SELECT pg_terminate_backend($1)", [pid]);
    await gone(pid);
    return Response.json({ id: key }, { status: 201 });
  });
  const request = () =>
    new Request("http://loss.test/orders", {
      method: "POST",
      headers: { "idempotency-key": key, "content-type": "application/json" },
      body: "{}",
    });
  const first = await handler(request());
  report.status = first.status;
  report.contentType = first.headers.get("content-type");
  report.body = await first.text();
  // The process still serves: the retry runs on a fresh connection and commits.
  const idemNext = idem.transactional(store).wrap(async (_request, { client }) => {
    await client.query(`INSERT INTO ${business} (id) VALUES ($1)`, [key]);
    return Response.json({ id: key, retried: true }, { status: 201 });
  });
  const retry = await idemNext(request());
  report.retry = { status: retry.status, body: await retry.text() };
} else {
  const work = works[scenario];
  if (!work) throw new Error(`unknown scenario ${scenario}`);
  report.outcome = await settle(store.transaction(key, claim, work));
  report.releasesAfterLoss = [...releases];
  const count = async (sql, value) => (await admin.query(sql, [value])).rows[0].n;
  report.businessRows = await count(`SELECT count(*)::int AS n FROM ${business} WHERE id = $1`, key);
  report.record = (await store.get(key)) ?? null;
  // The process still serves: the next transaction on the same pool (max 1) runs and commits.
  report.next = await store
    .transaction(`${key}:next`, claim, async ({ client }) => {
      await client.query(`INSERT INTO ${business} (id) VALUES ($1)`, [`${key}:next`]);
      return ok("next");
    })
    .then(
      (value) => ({ acquired: value.acquired, committed: value.committed }),
      (error) => ({ error: String(error?.message ?? error) }),
    );
}
report.releases = releases;
process.stdout.write(`RESULT ${JSON.stringify(report)}\n`);
await admin.end();
await pool.end();
