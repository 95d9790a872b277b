import { randomUUID } from "node:crypto";
import { skipUnlessAvailable } from "@idemkit/conformance";
import { createIdempotency, type IdempotencyEvent } from "@idemkit/core";
import { createPostgresOrdersApp } from "@idemkit/example-orders-postgres";
import { createPostgresStore, migrate } from "@idemkit/postgres";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const url = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

async function probe(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return undefined;
  } catch (error) {
    return `PostgreSQL at ${url} is unreachable (${(error as Error).message})`;
  } finally {
    await client.end().catch(() => {});
  }
}

const skip = skipUnlessAvailable("postgres", await probe());

describe.skipIf(Boolean(skip))(
  `transactional mode through HTTP on PostgreSQL${skip ? ` (skipped: ${skip})` : ""}`,
  () => {
    const schema = `idemkit_tx_http_${randomUUID().slice(0, 8)}`;
    let pool: pg.Pool;
    let app: Awaited<ReturnType<typeof createPostgresOrdersApp>>;

    beforeAll(async () => {
      pool = new pg.Pool({ connectionString: url, max: 12 });
      await pool.query(`CREATE SCHEMA "${schema}"`);
      app = await createPostgresOrdersApp({ pool, schema });
    });
    afterAll(async () => {
      await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
      await pool.end();
    });

    const post = (key: string, body: unknown, simulate?: string) =>
      app.fetch(
        new Request("http://orders.test/orders", {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "idempotency-key": `"${key}"`,
            ...(simulate ? { "x-simulate": simulate } : {}),
          },
          body: JSON.stringify(body),
        }),
      );
    const countOrders = async (item: string) =>
      Number(
        (await pool.query(`SELECT count(*) FROM "${schema}".orders WHERE item = $1`, [item])).rows[0].count,
      );
    const keyRows = async () =>
      Number((await pool.query(`SELECT count(*) FROM "${schema}".idemkit_keys`)).rows[0].count);

    it("10 concurrent duplicates: one order, one execution, every answer the same order", async () => {
      const key = randomUUID();
      const before = app.stats.executions;
      const responses = await Promise.all(
        Array.from({ length: 10 }, () => post(key, { item: key, quantity: 1 })),
      );
      expect(app.stats.executions - before).toBe(1);
      expect(responses.every((r) => r.status === 201)).toBe(true);
      const bodies = await Promise.all(responses.map((r) => r.json()));
      expect(new Set(bodies.map((b) => b.id)).size).toBe(1);
      expect(responses.filter((r) => r.headers.get("idempotent-replayed") === "true")).toHaveLength(9);
      expect(await countOrders(key)).toBe(1);
    });

    it("a 5xx after the insert rolls back the order and the key; the retry runs once", async () => {
      const key = randomUUID();
      const keysBefore = await keyRows();
      expect((await post(key, { item: key, quantity: 1 }, "downstream-503")).status).toBe(503);
      expect(await countOrders(key)).toBe(0);
      expect(await keyRows()).toBe(keysBefore);
      expect((await post(key, { item: key, quantity: 1 })).status).toBe(201);
      expect((await post(key, { item: key, quantity: 1 })).headers.get("idempotent-replayed")).toBe("true");
      expect(await countOrders(key)).toBe(1);
    });

    it("a thrown handler leaves no order and no key", async () => {
      const key = randomUUID();
      await expect(post(key, { item: key, quantity: 1 }, "crash")).rejects.toThrow("handler crashed");
      expect(await countOrders(key)).toBe(0);
      expect((await post(key, { item: key, quantity: 1 })).status).toBe(201);
      expect(await countOrders(key)).toBe(1);
    });

    it("a duplicate waits in the database up to waitForInFlight's timeout: a replay within it, 409 past it, never 503", async () => {
      await migrate(pool, { schema });
      const store = createPostgresStore({ pool, schema });
      const events: IdempotencyEvent[] = [];
      const route = (timeoutMs: number) =>
        createIdempotency({
          store,
          scope: "global",
          storeTimeoutMs: 500,
          waitForInFlight: { timeoutMs },
          onEvent: (e) => events.push(e),
        })
          .transactional(store)
          .wrap(async () => {
            await new Promise((resolve) => setTimeout(resolve, 2_000)); // longer than storeTimeoutMs
            return Response.json({ made: true }, { status: 201 });
          });
      const send = (handler: (r: Request) => Promise<Response>, key: string) =>
        handler(
          new Request("http://orders.test/slow", { method: "POST", headers: { "idempotency-key": key } }),
        );
      const patient = route(5_000);
      const key = randomUUID();
      const [first, second] = await Promise.all([send(patient, key), send(patient, key)]);
      expect([first.status, second.status]).toEqual([201, 201]);
      expect([first, second].map((r) => r.headers.get("idempotent-replayed"))).toContain("true");
      const hasty = route(300);
      const other = randomUUID();
      const firstOther = send(hasty, other);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const started = performance.now();
      const duplicate = await send(hasty, other);
      expect(duplicate.status).toBe(409);
      expect(performance.now() - started).toBeLessThan(1_500);
      expect((await firstOther).status).toBe(201);
      expect(events.filter((e) => e.type === "store-error")).toEqual([]);
    });

    it("a reused key with another body is 422 and writes nothing", async () => {
      const key = randomUUID();
      await post(key, { item: key, quantity: 1 });
      const reuse = await post(key, { item: key, quantity: 2 });
      expect(reuse.status).toBe(422);
      expect(await countOrders(key)).toBe(1);
    });
  },
);
