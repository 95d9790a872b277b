// What a request costs in DynamoDB commands, counted by an SDK middleware on a client of dynalite.
import { randomUUID } from "node:crypto";
import { createIdempotency } from "@idemkit/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDynamoDbStore } from "./store.js";
import { freshTable, newClient, skip, titled } from "./test-support.js";

describe.skipIf(Boolean(skip))(titled("dynamodb: commands sent"), () => {
  let fresh: Awaited<ReturnType<typeof freshTable>>;
  beforeAll(async () => {
    fresh = await freshTable("commands");
  });
  afterAll(async () => {
    await fresh?.drop();
  });
  /** A client that lists every command it sends and how it ended. */
  const counting = () => {
    const client = newClient();
    const sent: string[] = [];
    client.middlewareStack.add(
      (next, context) => async (args) => {
        try {
          const output = await next(args);
          sent.push(`${context.commandName} ok`);
          return output;
        } catch (error) {
          sent.push(`${context.commandName} ${(error as Error).name}`);
          throw error;
        }
      },
      { step: "initialize", name: "count" },
    );
    return { client, sent };
  };

  it("a new request through core: one conditional UpdateItem to claim, one to complete, nothing else", async () => {
    const { client, sent } = counting();
    const idem = createIdempotency({
      store: createDynamoDbStore({ client, table: fresh.table }),
      scope: "global",
    });
    const route = idem.wrap(async () => new Response("created", { status: 201 }));
    const headers = { "idempotency-key": randomUUID() };
    expect((await route(new Request("http://x/orders", { method: "POST", headers }))).status).toBe(201);
    expect(sent).toEqual(["UpdateItemCommand ok", "UpdateItemCommand ok"]);
    client.destroy();
  });

  it("a completion whose retention ends after the claim's keep-until moves the TTL with a second write", async () => {
    const { client, sent } = counting();
    const store = createDynamoDbStore({ client, table: fresh.table });
    const key = `moving-ttl-${randomUUID()}`;
    const owner = { token: randomUUID(), fingerprint: "fp", leaseMs: 1000, retentionMs: 0 };
    await store.claim(key, owner);
    const retentionMs = 3_600_000;
    const before = Date.now();
    expect(await store.complete(key, owner.token, { result: Uint8Array.of(1), retentionMs })).toBe(true);
    expect(sent).toEqual([
      "UpdateItemCommand ok",
      "UpdateItemCommand ConditionalCheckFailedException",
      // dynalite does not return the item with a failed condition (DynamoDB does): the store reads it.
      "GetItemCommand ok",
      "UpdateItemCommand ok",
    ]);
    const record = await store.get(key);
    expect(record).toMatchObject({ state: "completed", result: Uint8Array.of(1) });
    expect(record?.state === "completed" && record.expiresAt).toBeGreaterThanOrEqual(before + retentionMs);
    client.destroy();
  });
});
