import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { TransactionalOutput } from "@idemkit/core";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postgresStatements, quoteIdentifier } from "./schema.js";
import { createPostgresStore, encodeKey, type PostgresStore } from "./store.js";
import {
  databaseUrl,
  freshTables,
  newPool,
  skip,
  sleep,
  titled,
  transpiledPackage,
  waitForLockWait,
} from "./test-support.js";
import { SerializationError } from "./transaction.js";

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

describe.skipIf(Boolean(skip))(titled("postgres transactional mode"), () => {
  let tables: Awaited<ReturnType<typeof freshTables>>;
  let pool: pg.Pool;
  let store: PostgresStore;
  let business: string;
  const pools: pg.Pool[] = [];
  const storeOn = (name: string, options: { maxRetries?: number } = {}) => {
    const p = newPool({ max: 4, application_name: name });
    pools.push(p);
    return createPostgresStore({ pool: p, ...tables.names, ...options });
  };
  const businessRows = async (ids: string[]) =>
    (await pool.query(`SELECT count(*)::int AS n FROM ${business} WHERE id = ANY($1)`, [ids])).rows[0]
      .n as number;
  const keyRows = async (key: string) =>
    (
      await pool.query(
        `SELECT count(*)::int AS n FROM ${postgresStatements(tables.names).table} WHERE key = $1`,
        [encodeKey(key)],
      )
    ).rows[0].n as number;
  /** Work that inserts a business row `id` and stores `id` as the outcome. */
  const insertOrder =
    (id: string, before?: () => Promise<void>) =>
    async ({ client }: { client: pg.PoolClient }): Promise<TransactionalOutput<string>> => {
      await client.query(`INSERT INTO ${business} (id, tag) VALUES ($1, 'order')`, [id]);
      await before?.();
      return { value: id, result: bytes(id), commit: true };
    };

  beforeAll(async () => {
    tables = await freshTables("tx");
    pool = newPool({ max: 12 });
    store = createPostgresStore({ pool, ...tables.names });
    business = `${quoteIdentifier(tables.names.schema)}.business`;
    await pool.query(`CREATE TABLE ${business} (id text PRIMARY KEY, tag text)`);
  });
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.end()));
    await pool?.end();
    await tables?.drop();
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
    expect(
      (await pool.query(`SELECT count(*)::int AS n FROM ${business} WHERE id LIKE $1`, [`order-${key}-%`]))
        .rows[0].n,
    ).toBe(1);
  });

  it("a duplicate waiting on a transaction that rolls back runs the work itself", async () => {
    const key = `rollback:${randomUUID()}`;
    const inside = gate();
    const fail = gate();
    const first = store.transaction(key, claim, async ({ client }) => {
      await client.query(`INSERT INTO ${business} (id) VALUES ($1)`, [`${key}-first`]);
      inside.open();
      await fail.opened;
      throw new Error("handler failed");
    });
    await inside.opened;
    const second = storeOn(`waiter-${randomUUID()}`);
    const pending = second.transaction(key, claim, insertOrder(`${key}-second`));
    await waitForLockWait(pool, pools.at(-1)!.options.application_name!);
    fail.open();
    await expect(first).rejects.toThrow("handler failed");
    expect(await pending).toMatchObject({
      acquired: true,
      fence: 1,
      committed: true,
      value: `${key}-second`,
    });
    expect(await businessRows([`${key}-first`, `${key}-second`])).toBe(1);
    expect(await businessRows([`${key}-second`])).toBe(1);
  });

  it("a thrown handler or commit: false leaves no trace; a retry then runs", async () => {
    const key = `error:${randomUUID()}`;
    const boom = new Error("boom");
    await expect(
      store.transaction(key, claim, async (context) => {
        await insertOrder(`${key}-1`)(context);
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(await keyRows(key)).toBe(0);
    expect(await store.get(key)).toBeUndefined();

    const declined = await store.transaction(key, claim, async (context) => ({
      ...(await insertOrder(`${key}-2`)(context)),
      commit: false,
    }));
    expect(declined).toEqual({ acquired: true, fence: 1, value: `${key}-2`, committed: false });
    expect(await keyRows(key)).toBe(0);
    expect(await businessRows([`${key}-1`, `${key}-2`])).toBe(0);

    expect(await store.transaction(key, claim, insertOrder(`${key}-3`))).toMatchObject({ committed: true });
    expect(await businessRows([`${key}-3`])).toBe(1);
    expect(await store.get(key)).toMatchObject({ state: "completed", fence: 1 });
  });

  it("meets lease-mode records: a live one comes back without running work, an expired one is taken over", async () => {
    const key = `mixed:${randomUUID()}`;
    await store.claim(key, { token: "lease-owner", fingerprint: "fp", leaseMs: 150, retentionMs: 60_000 });
    let runs = 0;
    const work = async () => {
      runs++;
      return { value: "v", result: bytes("v"), commit: true };
    };
    expect(await store.transaction(key, claim, work)).toMatchObject({
      acquired: false,
      record: { state: "in_progress", token: "lease-owner" },
    });
    expect(runs).toBe(0);
    await sleep(200);
    expect(await store.transaction(key, claim, work)).toMatchObject({
      acquired: true,
      fence: 2,
      committed: true,
    });
    expect(runs).toBe(1);
    expect(await store.complete(key, "lease-owner", { result: bytes("stale"), retentionMs: 60_000 })).toBe(
      false,
    );
  });

  it("statements per request (counting client): new = 4 (BEGIN, claim, complete, COMMIT), replay = 3", async () => {
    const statements: string[] = [];
    class CountingClient extends pg.Client {
      // biome-ignore lint/suspicious/noExplicitAny: pg's query overloads
      override query(...args: any[]): any {
        statements.push(String(typeof args[0] === "string" ? args[0] : args[0]?.text).slice(0, 30));
        // biome-ignore lint/suspicious/noExplicitAny: pg's query overloads
        return (super.query as any)(...args);
      }
    }
    const counted = newPool({ max: 1, Client: CountingClient });
    pools.push(counted);
    const s = createPostgresStore({ pool: counted, ...tables.names });
    const key = `count:${randomUUID()}`;
    const work = async () => ({ value: 1, result: bytes("1"), commit: true });
    expect(await s.transaction(key, claim, work)).toMatchObject({ committed: true });
    expect(statements).toHaveLength(4);
    statements.length = 0;
    expect(await s.transaction(key, claim, work)).toMatchObject({ acquired: false });
    expect(statements).toEqual([
      "BEGIN ISOLATION LEVEL READ COM",
      expect.stringContaining("SELECT acquired, state"),
      "ROLLBACK",
    ]);
  });

  it("SERIALIZABLE: a duplicate that waited fails with 40001; it is surfaced as SerializationError or retried into a replay", async () => {
    const key = `ser:${randomUUID()}`;
    const inside = gate();
    const finish = gate();
    const serializable = { isolationLevel: "serializable" as const };
    const first = store.transaction(
      key,
      claim,
      insertOrder(`${key}-1`, async () => {
        inside.open();
        await finish.opened;
      }),
      serializable,
    );
    await inside.opened;
    const noRetry = storeOn(`ser-no-retry-${randomUUID()}`, { maxRetries: 0 });
    const withRetry = storeOn(`ser-retry-${randomUUID()}`);
    let runs = 0;
    const count = async () => {
      runs++;
      return { value: 0, result: bytes("x"), commit: true };
    };
    const surfaced = noRetry.transaction(key, claim, count, serializable);
    const retried = withRetry.transaction(key, claim, count, serializable);
    await waitForLockWait(pool, pools.at(-2)!.options.application_name!);
    await waitForLockWait(pool, pools.at(-1)!.options.application_name!);
    finish.open();
    expect(await first).toMatchObject({ acquired: true, committed: true });
    const error = await surfaced.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SerializationError);
    expect(error).toMatchObject({ code: "40001", attempts: 1, cause: { code: "40001" } });
    expect(await retried).toMatchObject({ acquired: false, record: { state: "completed" } });
    expect(runs).toBe(0);
  });

  it("SERIALIZABLE: write skew between two keys aborts one transaction; it is retried and its work runs again", async () => {
    const tag = `skew-${randomUUID()}`;
    let reads = 0;
    let runs = 0;
    const bothRead = gate();
    const work =
      (id: string) =>
      async ({ client }: { client: pg.PoolClient }) => {
        runs++;
        const { rows } = await client.query(`SELECT count(*)::int AS n FROM ${business} WHERE tag = $1`, [
          tag,
        ]);
        if (++reads === 2) bothRead.open();
        await bothRead.opened;
        await client.query(`INSERT INTO ${business} (id, tag) VALUES ($1, $2)`, [id, tag]);
        return { value: rows[0].n as number, result: bytes(id), commit: true };
      };
    const options = { isolationLevel: "serializable" as const };
    const [a, b] = await Promise.all([
      store.transaction(`${tag}:a`, claim, work(`${tag}-a`), options),
      store.transaction(`${tag}:b`, claim, work(`${tag}-b`), options),
    ]);
    expect(a).toMatchObject({ acquired: true, committed: true });
    expect(b).toMatchObject({ acquired: true, committed: true });
    // At least one abort and re-run; with other suites using the same PostgreSQL beside this one, SSI may
    // abort a second time (a false positive it allows), and that re-run is as correct as the first.
    expect(runs).toBeGreaterThanOrEqual(3);
    // The re-run saw the other transaction's row: the outcome is serializable.
    expect([a.acquired && a.value, b.acquired && b.value].sort()).toEqual([0, 1]);
  });

  it("a process killed with SIGKILL mid-transaction leaves no key and no business row; a retry runs once", async () => {
    // The child imports this package's source, transpiled to plain JS (no build step needed).
    const out = await transpiledPackage();
    try {
      const key = `crash:${randomUUID()}`;
      const applicationName = `idemkit-crash-${randomUUID()}`;
      const fixture = fileURLToPath(new URL("../test/kill-child.mjs", import.meta.url));
      const args = [
        pathToFileURL(join(out, "index.js")).href,
        databaseUrl,
        applicationName,
        JSON.stringify(tables.names),
        key,
        business,
      ];
      const child = spawn(process.execPath, [fixture, ...args], { stdio: ["ignore", "pipe", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (chunk) => {
        stderr += chunk;
      });
      const exited = once(child, "exit");
      await new Promise<void>((resolve, reject) => {
        child.stdout.on("data", (chunk) => String(chunk).includes("inside work, fence 1") && resolve());
        exited.then(() => reject(new Error(`child exited early: ${stderr}`)));
      });
      // Inside work: the business row and the key row exist, uncommitted.
      child.kill("SIGKILL");
      await exited;

      // The server ends the child's session when its socket closes, rolling the transaction back.
      const until = Date.now() + 10_000;
      while (
        (await pool.query("SELECT 1 FROM pg_stat_activity WHERE application_name = $1", [applicationName]))
          .rowCount
      ) {
        if (Date.now() > until) throw new Error("the killed child's session is still open");
        await sleep(20);
      }
      expect(await keyRows(key)).toBe(0);
      expect(await businessRows([key])).toBe(0);

      let runs = 0;
      const retry = await store.transaction(key, claim, async ({ client }) => {
        runs++;
        await client.query(`INSERT INTO ${business} (id) VALUES ($1)`, [key]);
        return { value: "ok", result: bytes("ok"), commit: true };
      });
      expect(retry).toMatchObject({ acquired: true, fence: 1, committed: true });
      expect(runs).toBe(1);
      expect(await businessRows([key])).toBe(1);
      expect(
        await store.transaction(key, claim, async () => ({
          value: "again",
          result: bytes(""),
          commit: true,
        })),
      ).toMatchObject({
        acquired: false,
        record: { state: "completed" },
      });
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });

  it("transaction() refuses a client in place of a pool", async () => {
    const client = await pool.connect();
    try {
      const onClient = createPostgresStore({ pool: client, ...tables.names });
      await expect(
        onClient.transaction("k", claim, async () => ({ value: 0, result: bytes(""), commit: true })),
      ).rejects.toThrow(/needs a pg Pool/);
    } finally {
      client.release();
    }
  });
});
