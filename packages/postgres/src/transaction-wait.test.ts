// Transactional mode keeps its promise (issue 13, item 7): a duplicate of a key whose first transaction
// runs longer than storeTimeoutMs waits in the database for it and replays, instead of a 503 and a false
// store-error event; and a wait bounded below the first's work gives up as "in progress" (409 through
// core), rolls back and hands its connection back at once, instead of holding it until the first commits.
import { randomUUID } from "node:crypto";
import { createIdempotency, type IdempotencyEvent, type TransactionalOutput } from "@idemkit/core";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { quoteIdentifier } from "./schema.js";
import { createPostgresStore, type PostgresStore } from "./store.js";
import { freshTables, newPool, skip, sleep, titled, waitForLockWait } from "./test-support.js";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}

/** Resolves once `check` is true, polling every 10 ms for up to `ms`. */
async function until(check: () => boolean, ms = 5_000): Promise<void> {
  for (const end = Date.now() + ms; !check(); await sleep(10)) {
    if (Date.now() > end) throw new Error("condition never held");
  }
}

describe.skipIf(Boolean(skip))(titled("postgres transactional mode: how long a duplicate waits"), () => {
  let tables: Awaited<ReturnType<typeof freshTables>>;
  let business: string;
  const pools: pg.Pool[] = [];
  /** A store on its own pool (max 4), named so that its lock waits can be seen in pg_stat_activity. */
  const storeOn = () => {
    const name = `idemkit-wait-${randomUUID()}`;
    const pool = newPool({ max: 4, application_name: name });
    pools.push(pool);
    return { pool, name, store: createPostgresStore({ pool, ...tables.names }) };
  };
  const countOrders = async (pool: pg.Pool, id: string) =>
    (await pool.query(`SELECT count(*)::int AS n FROM ${business} WHERE id = $1`, [id])).rows[0].n as number;

  beforeAll(async () => {
    tables = await freshTables("tx-wait");
    business = `${quoteIdentifier(tables.names.schema)}.business`;
    const admin = newPool({ max: 1 });
    await admin.query(`CREATE TABLE ${business} (id text PRIMARY KEY)`);
    await admin.end();
  });
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.end()));
    await tables?.drop();
  });

  /** A first transaction on `store` that holds `key` until `release` opens, then commits `key`. */
  function holdKey(store: PostgresStore, key: string) {
    const inside = gate();
    const release = gate();
    const done = store.transaction(key, { fingerprint: "fp", retentionMs: 60_000 }, async ({ client }) => {
      await client.query(`INSERT INTO ${business} (id) VALUES ($1)`, [key]);
      inside.open();
      await release.opened;
      return { value: "first", result: bytes("first"), commit: true } as TransactionalOutput<string>;
    });
    return { inside: inside.opened, release: release.open, done };
  }

  it("waitMs below the first's work: the duplicate gives up as busy after waitMs, rolls back and returns its connection while the first still holds the key", {
    timeout: 20_000,
  }, async () => {
    const first = storeOn();
    const second = storeOn();
    const key = `busy:${randomUUID()}`;
    const held = holdKey(first.store, key);
    await held.inside;
    try {
      // waitMs bounds the wait for the key, so the clock starts when the claim is sent: connecting a
      // fresh pool and BEGIN come before it and take what the machine's load makes them take.
      let claimSent = Number.NaN;
      const pending = second.store.transaction(
        key,
        {
          fingerprint: "fp",
          retentionMs: 60_000,
          waitMs: 1_000,
          onClaimSent: () => {
            claimSent = Date.now();
          },
        },
        async () => ({ value: "second", result: bytes("second"), commit: true }),
      );
      await waitForLockWait(first.pool, second.name);
      expect(second.pool.totalCount - second.pool.idleCount).toBe(1); // waiting on the key, in the database
      expect(await pending).toEqual({ acquired: false, busy: true });
      const waited = Date.now() - claimSent;
      // The first holds the key until the duplicate has returned, so any return is a give-up; the upper
      // bound says it came after about waitMs, with room for a loaded machine that stalls for seconds.
      expect(waited).toBeGreaterThanOrEqual(900);
      expect(waited).toBeLessThan(4_000);
      // Rolled back and handed back at once: the pool has it idle, and the server runs nothing for it.
      expect(second.pool.idleCount).toBe(second.pool.totalCount);
      const { rows } = await first.pool.query(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND state <> 'idle'",
        [second.name],
      );
      expect(rows[0].n).toBe(0);
      // The session's own lock_timeout is untouched by the bounded claim.
      const client = await second.pool.connect();
      expect((await client.query("SHOW lock_timeout")).rows[0].lock_timeout).toBe("0");
      client.release();
    } finally {
      held.release();
    }
    expect(await held.done).toMatchObject({ acquired: true, committed: true });
    expect(await countOrders(first.pool, key)).toBe(1);
    // Once the first has committed, a duplicate gets its record.
    const later = await second.store.transaction(
      key,
      { fingerprint: "fp", retentionMs: 60_000, waitMs: 1_000 },
      async () => ({ value: "third", result: bytes("third"), commit: true }),
    );
    expect(later.acquired === false && later.record?.state === "completed" && text(later.record.result)).toBe(
      "first",
    );
  });

  it("waitMs above the first's work: the duplicate waits for its commit and gets the completed record", async () => {
    const first = storeOn();
    const second = storeOn();
    const key = `wait:${randomUUID()}`;
    const held = holdKey(first.store, key);
    await held.inside;
    const pending = second.store.transaction(
      key,
      { fingerprint: "fp", retentionMs: 60_000, waitMs: 10_000 },
      async () => ({ value: "second", result: bytes("second"), commit: true }),
    );
    await waitForLockWait(first.pool, second.name);
    await sleep(500);
    held.release();
    const result = await pending;
    expect(
      result.acquired === false && result.record?.state === "completed" && text(result.record.result),
    ).toBe("first");
    expect(second.pool.idleCount).toBe(second.pool.totalCount);
  });

  it("through core, a first request holding its key for 3 s with storeTimeoutMs 500: the duplicate waits in the database and replays; no store-error, no 503", {
    timeout: 30_000,
  }, async () => {
    const { pool, store } = storeOn();
    const events: IdempotencyEvent[] = [];
    const idem = createIdempotency({
      store,
      scope: "global",
      storeTimeoutMs: 500,
      onEvent: (event) => events.push(event),
    });
    let runs = 0;
    let inside = false;
    const route = idem.transactional(store).wrap(async (request, { client }) => {
      runs++;
      const { id } = await request.json();
      await client.query(`INSERT INTO ${business} (id) VALUES ($1)`, [id]);
      inside = true;
      await sleep(3_000);
      return Response.json({ id }, { status: 201 });
    });
    const id = randomUUID();
    const post = () =>
      route(
        new Request("http://x/orders", {
          method: "POST",
          headers: { "idempotency-key": id, "content-type": "application/json" },
          body: JSON.stringify({ id }),
        }),
      );
    const first = post();
    await until(() => inside);
    const started = Date.now();
    const duplicate = await post();
    expect(Date.now() - started).toBeGreaterThan(1_500); // it waited for the first's commit
    expect(duplicate.status).toBe(201);
    expect(duplicate.headers.get("idempotent-replayed")).toBe("true");
    expect(await duplicate.json()).toEqual({ id });
    expect((await first).status).toBe(201);
    expect(runs).toBe(1);
    expect(await countOrders(pool, id)).toBe(1);
    expect(events.map((e) => e.type)).not.toContain("store-error");
    expect(events.map((e) => e.type)).toContain("replayed");
    expect(pool.idleCount).toBe(pool.totalCount);
  });
});
