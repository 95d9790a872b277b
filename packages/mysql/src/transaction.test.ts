// Transactional mode against the server: the key row and the work's writes commit or roll back together,
// and a duplicate waits in the database for the first transaction to end.
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createIdempotency, type TransactionalOutput } from "@idemkit/core";
import type { Pool, PoolConnection } from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyHash } from "./key.js";
import { mysqlStatements } from "./schema.js";
import { createMySqlStore, type MySqlStore } from "./store.js";
import {
  firstRow,
  freshTable,
  mysqlUrl,
  newPool,
  rowsOf,
  skip,
  sleep,
  titled,
  transpiledPackage,
} from "./test-support.js";
import { ConnectionLostError, DeadlockError } from "./transaction.js";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);
const claim = { fingerprint: "fp", retentionMs: 60_000 };

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}

describe.skipIf(Boolean(skip))(titled("mysql transactional mode"), () => {
  let fresh: Awaited<ReturnType<typeof freshTable>>;
  let pool: Pool;
  let store: MySqlStore;
  let business: string;
  const count = async (sql: string, values: unknown[]) => {
    const { n } = await firstRow<{ n: number }>(pool.execute(sql, values as never));
    return Number(n);
  };
  const orders = (like: string) => count(`SELECT COUNT(*) AS n FROM ${business} WHERE id LIKE ?`, [like]);
  const keyRows = (key: string) =>
    count(`SELECT COUNT(*) AS n FROM ${mysqlStatements({ table: fresh.table }).table} WHERE key_hash = ?`, [
      keyHash(key),
    ]);
  /** Work that inserts a business row `id` and stores `id` as the outcome. */
  const insertOrder =
    (id: string, before?: () => Promise<void>) =>
    async ({ client }: { client: PoolConnection }): Promise<TransactionalOutput<string>> => {
      await client.execute(`INSERT INTO ${business} (id) VALUES (?)`, [id]);
      await before?.();
      return { value: id, result: bytes(id), commit: true };
    };

  beforeAll(async () => {
    fresh = await freshTable("tx");
    pool = newPool({ connectionLimit: 12 });
    store = createMySqlStore({ pool, table: fresh.table });
    business = `\`idemkit business ${fresh.id}\``;
    await pool.query(`CREATE TABLE ${business} (id VARCHAR(200) PRIMARY KEY) ENGINE = InnoDB`);
  });
  afterAll(async () => {
    await pool?.query(`DROP TABLE IF EXISTS ${business}`);
    await pool?.end();
    await fresh?.drop();
  });

  it("concurrent duplicates: one runs, the others wait for its commit and get the completed record", async () => {
    const key = `dup:${randomUUID()}`;
    let runs = 0;
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        store.transaction(key, claim, async (context) => {
          runs++;
          return insertOrder(`order-${key}-${i}`, () => sleep(300))(context);
        }),
      ),
    );
    expect(runs).toBe(1);
    const winners = results.filter((r) => r.acquired);
    expect(winners).toHaveLength(1);
    expect(winners[0]).toMatchObject({ acquired: true, fence: 1, committed: true });
    const id = winners[0]!.acquired ? winners[0]!.value : "";
    for (const r of results) {
      if (r.acquired) continue;
      expect(r.record).toMatchObject({ state: "completed", fence: 1 });
      expect(r.record.state === "completed" && text(r.record.result)).toBe(id);
    }
    expect(await orders(`order-${key}-%`)).toBe(1);
  });

  it("a throw in the work rolls back its writes and the key; a duplicate that waited runs the work itself", async () => {
    const key = `rollback:${randomUUID()}`;
    const inside = gate();
    const fail = gate();
    const first = store.transaction(key, claim, async ({ client }) => {
      await client.execute(`INSERT INTO ${business} (id) VALUES (?)`, [`${key}-first`]);
      inside.open();
      await fail.opened;
      throw new Error("handler failed");
    });
    await inside.opened;
    const second = store.transaction(key, claim, insertOrder(`${key}-second`));
    await sleep(200); // the second is waiting on the first's key row
    fail.open();
    await expect(first).rejects.toThrow("handler failed");
    expect(await second).toMatchObject({ acquired: true, fence: 1, committed: true, value: `${key}-second` });
    expect(await orders(`${key}-first`)).toBe(0);
    expect(await orders(`${key}-second`)).toBe(1);
  });

  it("commit: false rolls back the work's writes and the key: nothing is left, a retry runs", async () => {
    const key = `no-commit:${randomUUID()}`;
    const result = await store.transaction(key, claim, async ({ client }) => {
      await client.execute(`INSERT INTO ${business} (id) VALUES (?)`, [key]);
      return { value: "declined", result: bytes("x"), commit: false };
    });
    expect(result).toEqual({ acquired: true, fence: 1, value: "declined", committed: false });
    expect(await orders(key)).toBe(0);
    expect(await keyRows(key)).toBe(0);
    expect(await store.transaction(key, claim, insertOrder(key))).toMatchObject({ committed: true });
  });

  it("waitMs: a duplicate of a key held longer gives up after about that long, busy, and its connection is free", async () => {
    const key = `busy:${randomUUID()}`;
    const inside = gate();
    const done = gate();
    const first = store.transaction(key, claim, async (context) => {
      inside.open();
      return insertOrder(key, () => done.opened)(context);
    });
    await inside.opened;
    const started = performance.now();
    const busy = await store.transaction(key, { ...claim, waitMs: 1000 }, insertOrder(`${key}-dup`));
    const waited = performance.now() - started;
    expect(busy).toEqual({ acquired: false, busy: true });
    expect(waited).toBeGreaterThan(900);
    expect(waited).toBeLessThan(5000);
    // The session's own lock wait is back on the pooled connection.
    const { wait } = await firstRow<{ wait: number }>(
      pool.query("SELECT @@SESSION.innodb_lock_wait_timeout AS wait"),
    );
    expect(Number(wait)).toBeGreaterThan(1);
    done.open();
    expect(await first).toMatchObject({ acquired: true, committed: true });
    expect(
      await store.transaction(key, { ...claim, waitMs: 1000 }, insertOrder(`${key}-late`)),
    ).toMatchObject({
      acquired: false,
      record: { state: "completed", fence: 1 },
    });
  });

  it("a deadlock re-runs the whole attempt; past maxRetries it rejects with DeadlockError, nothing committed", async () => {
    const key = `deadlock:${randomUUID()}`;
    let attempts = 0;
    const deadlock = Object.assign(new Error("Deadlock found when trying to get lock"), { errno: 1213 });
    const result = await store.transaction(key, claim, async (context) => {
      attempts++;
      await insertOrder(`${key}-${attempts}`)(context);
      if (attempts < 3) throw deadlock;
      return { value: attempts, result: bytes("ok"), commit: true };
    });
    expect(result).toMatchObject({ acquired: true, fence: 1, committed: true, value: 3 });
    expect(await orders(`${key}-%`)).toBe(1);

    const other = `deadlock-always:${randomUUID()}`;
    const failing = store.transaction(
      other,
      claim,
      async () => {
        throw deadlock;
      },
      { maxRetries: 1 },
    );
    await expect(failing).rejects.toThrow(DeadlockError);
    await expect(failing).rejects.toMatchObject({ attempts: 2 });
    expect(await keyRows(other)).toBe(0);
  });

  it("a connection killed while the work awaits: ConnectionLostError, nothing committed, no crash; a retry runs once", async () => {
    const key = `killed:${randomUUID()}`;
    const inside = gate();
    const resume = gate();
    let threadId = 0;
    const first = store.transaction(key, claim, async ({ client }) => {
      await client.execute(`INSERT INTO ${business} (id) VALUES (?)`, [`${key}-first`]);
      threadId = client.threadId;
      inside.open();
      await resume.opened;
      await client.execute("SELECT 1"); // the connection is gone
      return { value: "never", result: bytes("never"), commit: true };
    });
    await inside.opened;
    await pool.query(`KILL CONNECTION ${threadId}`);
    resume.open();
    await expect(first).rejects.toThrow(ConnectionLostError);
    await expect(first).rejects.toThrow(
      /the connection was lost during the transaction .*; nothing was committed/,
    );
    expect(await orders(`${key}-first`)).toBe(0);
    expect(await keyRows(key)).toBe(0);
    expect(await store.transaction(key, claim, insertOrder(`${key}-retry`))).toMatchObject({
      committed: true,
    });
    expect(await orders(`${key}-%`)).toBe(1);
  });

  it("through core, that lost connection is a store failure: 503, and the retry runs", async () => {
    const events: string[] = [];
    const idem = createIdempotency({ store, scope: "global", onEvent: (event) => events.push(event.type) });
    let runs = 0;
    const route = idem.transactional(store).wrap(async (_request, { client }) => {
      runs++;
      if (runs === 1) await pool.query(`KILL CONNECTION ${client.threadId}`);
      await client.execute(`INSERT INTO ${business} (id) VALUES (?)`, [`lost-${runs}-${randomUUID()}`]);
      return new Response("created", { status: 201 });
    });
    const key = `http-lost:${randomUUID()}`;
    const post = () =>
      route(new Request("http://x/orders", { method: "POST", headers: { "idempotency-key": key } }));
    expect((await post()).status).toBe(503);
    expect(events).toContain("store-error");
    expect((await post()).status).toBe(201);
    expect(runs).toBe(2);
  });

  it("a process killed with SIGKILL mid-transaction leaves no key and no business row; a retry runs once", async () => {
    // The child imports this package's source, transpiled to plain JS (no build step needed).
    const out = await transpiledPackage();
    try {
      const key = `crash:${randomUUID()}`;
      const fixture = fileURLToPath(new URL("../test/kill-child.mjs", import.meta.url));
      const args = [pathToFileURL(join(out, "index.js")).href, mysqlUrl, fresh.table, key, business];
      const child = spawn(process.execPath, [fixture, ...args], { stdio: ["ignore", "pipe", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (chunk) => {
        stderr += chunk;
      });
      const exited = once(child, "exit");
      const thread = await new Promise<number>((resolve, reject) => {
        child.stdout.on("data", (chunk) => {
          const inside = /inside work, fence 1, thread (\d+)/.exec(String(chunk));
          if (inside) resolve(Number(inside[1]));
        });
        exited.then(() => reject(new Error(`child exited early: ${stderr}`)));
      });
      // Inside work: the business row and the key row exist, uncommitted.
      child.kill("SIGKILL");
      await exited;
      // The server ends the child's session when its socket closes, rolling the transaction back.
      const until = Date.now() + 10_000;
      while (
        (await rowsOf(pool.query("SELECT 1 FROM information_schema.PROCESSLIST WHERE ID = ?", [thread])))
          .length
      ) {
        if (Date.now() > until) throw new Error("the killed child's session is still open");
        await sleep(20);
      }
      expect(await keyRows(key)).toBe(0);
      expect(await orders(key)).toBe(0);
      expect(await store.transaction(key, claim, insertOrder(key))).toMatchObject({
        fence: 1,
        committed: true,
      });
      expect(await orders(key)).toBe(1);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });

  it("through core: idem.transactional runs a request once and replays it", async () => {
    const idem = createIdempotency({ store, scope: "global" });
    let runs = 0;
    const route = idem.transactional(store).wrap(async (_request, { client }) => {
      runs++;
      await client.execute(`INSERT INTO ${business} (id) VALUES (?)`, [`http-${runs}-${randomUUID()}`]);
      return new Response("created", { status: 201 });
    });
    const key = `http:${randomUUID()}`;
    const post = () =>
      route(new Request("http://x/orders", { method: "POST", headers: { "idempotency-key": key } }));
    const first = await post();
    const retry = await post();
    expect([first.status, retry.status]).toEqual([201, 201]);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(runs).toBe(1);
  });
});
