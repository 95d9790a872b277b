// What a pool's own settings or a call's arguments could break is refused with a clear error, or works.
import { randomUUID } from "node:crypto";
import mysql, { type Pool } from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMySqlStore, type MySqlStoreOptions } from "./store.js";
import { freshTable, mysqlUrl, newPool, skip, sleep, titled } from "./test-support.js";

const claimOf = (leaseMs = 60_000) => ({
  token: randomUUID(),
  fingerprint: "fp",
  leaseMs,
  retentionMs: 60_000,
});

describe("createMySqlStore refuses pools the store cannot work on", () => {
  it("a PoolCluster, or a namespace of one: it spreads statements over pools that may be different servers", async () => {
    const cluster = mysql.createPoolCluster();
    try {
      expect(() => createMySqlStore({ pool: cluster as unknown as Pool })).toThrow(
        /pool is a PoolCluster \(or one of its namespaces\).*Pass one Pool/,
      );
      expect(() => createMySqlStore({ pool: cluster.of("*") as unknown as Pool })).toThrow(/PoolCluster/);
    } finally {
      await cluster.end();
    }
  });

  it("a pool or connection created with flags ['-FOUND_ROWS'] (a live owner's extend answered false)", async () => {
    const pool = mysql.createPool({ uri: mysqlUrl, flags: ["-FOUND_ROWS"] });
    try {
      expect(() => createMySqlStore({ pool })).toThrow(/created with flags \['-FOUND_ROWS'\]/);
      const plain = mysql.createPool({ uri: mysqlUrl });
      expect(() => createMySqlStore({ pool: plain })).not.toThrow();
      await plain.end();
      const connection = { execute() {}, query() {}, connection: { config: { clientFlags: 0 } } };
      expect(() => createMySqlStore({ pool: connection } as unknown as MySqlStoreOptions)).toThrow(
        /FOUND_ROWS/,
      );
    } finally {
      await pool.end();
    }
  });

  it("a table name ending in a tab (MySQL refuses it at the first call)", () => {
    const pool = { execute() {}, query() {} } as unknown as Pool;
    expect(() => createMySqlStore({ pool, table: "a\t" })).toThrow(/table: invalid identifier "a\\t"/);
  });
});

describe.skipIf(Boolean(skip))(titled("mysql: pool settings and arguments"), () => {
  let fresh: Awaited<ReturnType<typeof freshTable>>;
  let pool: Pool;
  beforeAll(async () => {
    fresh = await freshTable("settings");
    pool = newPool({ connectionLimit: 2 });
  });
  afterAll(async () => {
    await pool?.end();
    await fresh?.drop();
  });

  it("a pool with charset BINARY reads rows as any other (the claim read 'state is an object')", async () => {
    const binary = newPool({ connectionLimit: 1, charset: "BINARY" });
    try {
      const store = createMySqlStore({ pool: binary, table: fresh.table });
      const first = claimOf(30);
      expect(await store.claim("bin", first)).toEqual({ acquired: true, fence: 1, takeover: false });
      expect(await store.claim("bin", claimOf())).toMatchObject({
        acquired: false,
        record: { state: "in_progress", token: first.token, fence: 1 },
      });
      await sleep(50);
      const second = claimOf();
      expect(await store.claim("bin", second)).toEqual({ acquired: true, fence: 2, takeover: true });
      expect(
        await store.complete("bin", second.token, { result: new Uint8Array([9]), retentionMs: 60_000 }),
      ).toBe(true);
      expect(await store.get("bin")).toMatchObject({
        state: "completed",
        fence: 2,
        result: new Uint8Array([9]),
      });
    } finally {
      await binary.end();
    }
  });

  it("a string outcome or a missing fingerprint fails with a TypeError naming it, not a raw one", async () => {
    const store = createMySqlStore({ pool, table: fresh.table });
    const owner = claimOf();
    await store.claim("args", owner);
    const text = { result: "done" as unknown as Uint8Array, retentionMs: 60_000 };
    await expect(store.complete("args", owner.token, text)).rejects.toThrow(
      '@idemkit/mysql: complete: result must be a Uint8Array (the outcome\'s bytes); got "done"',
    );
    const noFingerprint = { ...claimOf(), fingerprint: undefined as unknown as string };
    await expect(store.claim("args2", noFingerprint)).rejects.toThrow(
      "@idemkit/mysql: claim: fingerprint must be a string; got undefined",
    );
    const claim = { fingerprint: undefined as unknown as string, retentionMs: 60_000 };
    const work = async () => ({ value: 1, result: new Uint8Array(0), commit: true });
    await expect(store.transaction("args3", claim, work)).rejects.toThrow(
      "@idemkit/mysql: transaction: fingerprint must be a string; got undefined",
    );
    expect(await store.get("args")).toMatchObject({ state: "in_progress", token: owner.token });
  });
});
