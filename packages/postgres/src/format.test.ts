// Outcomes are text encoded by the client (outcome-text.ts) when ASCII, raw bytes otherwise: each comes
// back through PostgreSQL byte for byte, whichever session's client_encoding wrote or reads it.
// migration.test.ts converts the tables of earlier builds.
import { isAscii } from "node:buffer";
import { randomBytes, randomUUID } from "node:crypto";
import { type CompleteRequest, resultTextBytes, resultTextOf } from "@idemkit/core";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postgresStatements } from "./schema.js";
import { createPostgresStore, keyHash } from "./store.js";
import { claimOf, EDGE_OUTCOMES, freshTables, joinBytes, newPool, skip, titled } from "./test-support.js";

describe.skipIf(Boolean(skip))(titled("postgres: outcomes through the outcome column"), () => {
  let tables: Awaited<ReturnType<typeof freshTables>>;
  let pool: pg.Pool;
  beforeAll(async () => {
    tables = await freshTables("format");
    pool = newPool({ max: 2 });
  });
  afterAll(async () => {
    await pool?.end();
    await tables?.drop();
  });

  it("the column refuses what reads mark as outcome_bytes ('B'), and any kind the store does not write", async () => {
    const { table } = postgresStatements(tables.names);
    for (const text of ["BAA==", "ok", ""]) {
      await expect(
        pool.query(
          `INSERT INTO ${table} (key_hash, key, token, fingerprint, fence, state, outcome, expires_at, keep_until)
           VALUES ($1, 'k', 'o', 'fp', 1, 'completed', $2, now() + interval '1 day', 'infinity')`,
          [keyHash(`check:${randomUUID()}`), text],
        ),
      ).rejects.toThrow(/violates check constraint/);
    }
  });

  it.each([...EDGE_OUTCOMES, ["64 KiB of random bytes", randomBytes(65_536)] as [string, Buffer]])(
    "%s: claim and get give back its bytes, and ASCII its result text; ASCII is stored as text, the rest as bytes",
    async (_label, outcome) => {
      const store = createPostgresStore({ pool, ...tables.names });
      const key = `edge:${randomUUID()}`;
      const claim = claimOf();
      await store.claim(key, claim);
      expect(await store.complete(key, claim.token, { result: outcome, retentionMs: 60_000 })).toBe(true);
      const replay = await store.claim(key, claimOf());
      const read = await store.get(key);
      for (const record of [replay.acquired ? undefined : replay.record, read]) {
        if (record?.state !== "completed")
          throw new Error(`expected a completed record, got ${record?.state}`);
        // An ASCII outcome comes as text, its bytes built when `result` is first read.
        expect(record.resultText).toBe(resultTextOf(outcome));
        const unread = Object.getOwnPropertyDescriptor(record, "result");
        expect(typeof unread?.get).toBe(isAscii(outcome) ? "function" : "undefined");
        expect(Buffer.from({ ...record }.result).equals(outcome)).toBe(true);
        expect(record.result).toBe(record.result);
        record.result = new Uint8Array([1]);
        expect(record.result).toEqual(new Uint8Array([1]));
      }
      const { table } = postgresStatements(tables.names);
      const { rows } = await pool.query(
        `SELECT left(outcome, 1) AS kind, outcome_bytes AS bytes FROM ${table} WHERE key_hash = $1`,
        [keyHash(key)],
      );
      expect(rows[0]?.kind).toBe(isAscii(outcome) ? "t" : null);
      expect(rows[0]?.bytes).toEqual(isAscii(outcome) ? null : outcome);
    },
  );

  it("a record's lazy result reads when frozen; a spread copy or an assignment leaves no stale resultText", async () => {
    const store = createPostgresStore({ pool, ...tables.names });
    const key = `lazy:${randomUUID()}`;
    const claim = claimOf();
    const outcome = joinBytes([0, 1], '{"v":1}');
    await store.claim(key, claim);
    await store.complete(key, claim.token, { result: outcome, retentionMs: 60_000 });
    const read = async () => {
      const record = await store.get(key);
      if (record?.state !== "completed") throw new Error(`expected a completed record, got ${record?.state}`);
      return record;
    };
    const frozen = Object.freeze(await read());
    expect(Buffer.from(frozen.result).equals(outcome)).toBe(true);
    const copy = { ...(await read()), result: new Uint8Array([0, 1, 0x7b, 0x7d]) };
    expect(copy.resultText).toBeUndefined();
    expect(Object.keys(await read())).not.toContain("resultText");
    const assigned = await read();
    assigned.result = new Uint8Array([2]);
    expect(assigned.resultText).toBeUndefined();
    expect(assigned.result).toEqual(new Uint8Array([2]));
  });

  it("a completion given as result text is written as that text, its bytes never built; one that is not a result text goes by its bytes", async () => {
    const store = createPostgresStore({ pool, ...tables.names });
    expect(store.completesWithText).toBe(true);
    expect(Object.keys(store)).not.toContain("completesWithText"); // a copy of the store does not declare it
    const completed = async (request: CompleteRequest) => {
      const key = `text:${randomUUID()}`;
      const claim = claimOf();
      await store.claim(key, claim);
      expect(await store.complete(key, claim.token, request)).toBe(true);
      const record = await store.get(key);
      if (record?.state !== "completed") throw new Error(`expected a completed record, got ${record?.state}`);
      return record;
    };
    const resultText = `\u00100\u0001${JSON.stringify({ note: "x".repeat(70_000), nul: "\u0000" })}`;
    const unbuilt = Object.defineProperty({ resultText, retentionMs: 60_000 }, "result", {
      enumerable: true,
      get: () => expect.unreachable("the bytes of a completion given as text were built"),
    }) as CompleteRequest;
    const record = await completed(unbuilt);
    expect(record.resultText).toBe(resultText);
    expect(Buffer.from(record.result).equals(Buffer.from(resultTextBytes(resultText)!))).toBe(true);

    const bytes = joinBytes([0, 1], '{"v":2}');
    for (const notText of ["\u0010x", "é", "a\u0000b"]) {
      const fallback = await completed({ resultText: notText, result: bytes, retentionMs: 60_000 });
      expect(Buffer.from(fallback.result).equals(bytes)).toBe(true);
    }
  });
});

describe.skipIf(Boolean(skip))(
  titled("postgres: outcomes written and read by sessions of another client_encoding"),
  () => {
    let tables: Awaited<ReturnType<typeof freshTables>>;
    let utf8: pg.Pool;
    let latin1: pg.Pool;
    beforeAll(async () => {
      tables = await freshTables("encodings");
      utf8 = newPool({ max: 1 });
      latin1 = newPool({ max: 1 });
      latin1.on("connect", (client) => void client.query("SET client_encoding = 'LATIN1'"));
    });
    afterAll(async () => {
      await utf8?.end();
      await latin1?.end();
      await tables?.drop();
    });

    // Text past ASCII was converted between encodings: written by one session and read by the other, é
    // came back as the bytes of "Ã©", or of U+FFFD.
    it("each reads the other's outcomes byte for byte", async () => {
      const stores = [utf8, latin1].map((pool) => createPostgresStore({ pool, ...tables.names }));
      expect((await latin1.query("SHOW client_encoding")).rows[0]?.client_encoding).toBe("LATIN1");
      for (const [writer, reader] of [stores, [...stores].reverse()]) {
        for (const outcome of [
          joinBytes('{"name":"é €żółć 😀"}'),
          joinBytes('{"ok":true}'),
          randomBytes(300),
        ]) {
          const key = `enc:${randomUUID()}`;
          const claim = claimOf();
          await writer?.claim(key, claim);
          expect(await writer?.complete(key, claim.token, { result: outcome, retentionMs: 60_000 })).toBe(
            true,
          );
          const read = await reader?.get(key);
          expect(read?.state === "completed" && Buffer.from(read.result).equals(outcome)).toBe(true);
        }
      }
    });
  },
);
