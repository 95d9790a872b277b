// DynamoDB's limits: a partition key of at most 2048 bytes, an item of at most 400 KB.
import { randomUUID } from "node:crypto";
import { ScanCommand } from "@aws-sdk/client-dynamodb";
import { createIdempotency } from "@idemkit/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OutcomeTooLargeError } from "./errors.js";
import { itemKey, MAX_PARTITION_KEY_BYTES } from "./key.js";
import { createDynamoDbStore, OUTCOME_BYTES_GUARANTEED } from "./store.js";
import { freshTable, newClient, skip, titled } from "./test-support.js";

describe("itemKey", () => {
  it("keeps a key that fits in 2048 bytes readable, and hashes a longer one", () => {
    const fits = "a".repeat(MAX_PARTITION_KEY_BYTES - 2);
    expect(itemKey(fits)).toBe(`k:${fits}`);
    expect(itemKey(`${fits}a`)).toMatch(/^h:[0-9a-f]{64}$/);
    // Counted in UTF-8 bytes, not characters: 1024 two-byte characters do not fit beside the prefix.
    expect(itemKey("é".repeat(1024))).toMatch(/^h:/);
    expect(itemKey("é".repeat(1023))).toBe(`k:${"é".repeat(1023)}`);
  });

  it("never lets a key meet another's hashed form, and escapes NUL, backslashes and lone surrogates", () => {
    const long = "x".repeat(5000);
    expect(itemKey(itemKey(long))).not.toBe(itemKey(long));
    expect(itemKey("a\u0000")).toBe("k:a\\u0000");
    expect(itemKey("a\\u0000")).toBe("k:a\\\\u0000");
    expect(itemKey("\ud800")).not.toBe(itemKey("\ufffd"));
  });
});

describe.skipIf(Boolean(skip))(titled("dynamodb limits"), () => {
  let fresh: Awaited<ReturnType<typeof freshTable>>;
  const client = newClient();
  beforeAll(async () => {
    fresh = await freshTable("limits");
  });
  afterAll(async () => {
    client.destroy();
    await fresh?.drop();
  });
  const store = () => createDynamoDbStore({ client, table: fresh.table });
  const claimOf = () => ({
    token: randomUUID(),
    fingerprint: "f".repeat(64),
    leaseMs: 30_000,
    retentionMs: 60_000,
  });

  it("long keys and their one-character twins are distinct records, each item's key within 2048 bytes", async () => {
    const base = `long-${randomUUID()}-${"é".repeat(20_000)}`;
    const keys = [base, `${base}!`, `!${base}`, `${base.slice(0, 10_000)}?${base.slice(10_001)}`];
    for (const key of keys)
      expect(await store().claim(key, claimOf())).toMatchObject({ acquired: true, fence: 1 });
    const scan = await client.send(new ScanCommand({ TableName: fresh.table, ConsistentRead: true }));
    const sizes = (scan.Items ?? []).map((item) => Buffer.byteLength(item.pk?.S ?? "", "utf8"));
    expect(Math.max(...sizes)).toBeLessThanOrEqual(MAX_PARTITION_KEY_BYTES);
  });

  it(`an outcome of ${OUTCOME_BYTES_GUARANTEED} bytes beside the longest stored key and a 64-character fingerprint round-trips`, async () => {
    const key = `big-${"k".repeat(3000)}`;
    const owner = claimOf();
    await store().claim(key, owner);
    const result = Uint8Array.from({ length: OUTCOME_BYTES_GUARANTEED }, (_, i) => (i * 7) % 256);
    expect(await store().complete(key, owner.token, { result, retentionMs: 60_000 })).toBe(true);
    const read = await store().get(key);
    expect(read?.state === "completed" && Buffer.from(read.result).equals(Buffer.from(result))).toBe(true);
  });

  it("an outcome over the item limit: complete rejects with OutcomeTooLargeError naming the key, the owner keeps the lease", async () => {
    const key = `too-big-${randomUUID()}`;
    const owner = claimOf();
    await store().claim(key, owner);
    const outcome = { result: new Uint8Array(410_000), retentionMs: 60_000 };
    const error = await store()
      .complete(key, owner.token, outcome)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OutcomeTooLargeError);
    expect((error as Error).message).toContain(key);
    expect((error as OutcomeTooLargeError).bytes).toBe(410_000);
    expect(await store().get(key)).toMatchObject({ state: "in_progress", token: owner.token });
  });

  it("an outcome of 16 MiB rejects with OutcomeTooLargeError before it is sent (dynalite answered UnknownError)", async () => {
    const key = `far-too-big-${randomUUID()}`;
    const owner = claimOf();
    await store().claim(key, owner);
    const outcome = { result: new Uint8Array(16 * 1024 * 1024), retentionMs: 60_000 };
    const error = await store()
      .complete(key, owner.token, outcome)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OutcomeTooLargeError);
    expect((error as OutcomeTooLargeError).bytes).toBe(16 * 1024 * 1024);
    expect(await store().get(key)).toMatchObject({ state: "in_progress", token: owner.token });
  });

  it("through core: a response over the limit reaches its client, is reported as a store error, and its key stays in progress (409) until the lease ends", async () => {
    const events: string[] = [];
    const idem = createIdempotency({ store: store(), scope: "global", onEvent: (e) => events.push(e.type) });
    const route = idem.wrap(
      async (request) => new Response(new URL(request.url).searchParams.get("body"), { status: 201 }),
    );
    const post = (key: string, body: string) =>
      route(
        new Request(`http://x/orders?body=${body}`, { method: "POST", headers: { "idempotency-key": key } }),
      );
    const key = randomUUID();
    const big = "x".repeat(500_000);
    expect((await post(key, big)).status).toBe(201);
    expect(events).toContain("store-error");
    expect((await post(key, big)).status).toBe(409);
    expect((await post(randomUUID(), "small")).status).toBe(201);
  });
});
