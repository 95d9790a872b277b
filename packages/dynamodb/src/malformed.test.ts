// An item the store cannot read (written by hand or by another program) fails its own key with an error
// naming it, and nothing else; delete clears it.
import { randomUUID } from "node:crypto";
import {
  type AttributeValue,
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { createIdempotency } from "@idemkit/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { itemKey } from "./key.js";
import { createDynamoDbStore } from "./store.js";
import { freshTable, newClient, skip, titled } from "./test-support.js";

describe.skipIf(Boolean(skip))(titled("dynamodb: an item the store cannot read"), () => {
  let fresh: Awaited<ReturnType<typeof freshTable>>;
  const client = newClient();
  beforeAll(async () => {
    fresh = await freshTable("malformed");
  });
  afterAll(async () => {
    client.destroy();
    await fresh?.drop();
  });
  const store = () => createDynamoDbStore({ client, table: fresh.table });
  const claimOf = () => ({ token: randomUUID(), fingerprint: "fp", leaseMs: 30_000, retentionMs: 60_000 });
  // A live item (a day left), then one attribute replaced (or removed, with `undefined`).
  const put = async (key: string, state: string, name: string, value: AttributeValue | undefined) => {
    const item: Record<string, AttributeValue> = {
      pk: { S: itemKey(key) },
      st: { S: state },
      tok: { S: "owner" },
      fp: { S: "fp" },
      fence: { N: "1" },
      until: { N: String(Date.now() + 86_400_000) },
      rets: { N: "60" },
      ...(state === "completed" ? { res: { B: Uint8Array.of(1) } } : {}),
    };
    if (value === undefined) delete item[name];
    else item[name] = value;
    await client.send(new PutItemCommand({ TableName: fresh.table, Item: item }));
  };

  const rawItem = async (key: string) =>
    (
      await client.send(
        new GetItemCommand({
          TableName: fresh.table,
          Key: { pk: { S: itemKey(key) } },
          ConsistentRead: true,
        }),
      )
    ).Item;

  it.each([
    ["st", "in_progress", { S: "done" }, /st is "done"/],
    ["fence", "in_progress", { S: "1" }, /fence is an object/],
    ["fence", "in_progress", { N: "0" }, /fence is "0"/],
    ["fence", "in_progress", { N: "99999999999999999999" }, /fence is "99999999999999999999"/],
    ["until", "in_progress", { S: "tomorrow" }, /until is an object/],
    ["until", "in_progress", { N: "4102444800000.5" }, /until is "4102444800000.5"/],
    ["tok", "in_progress", undefined, /tok is not a string/],
    ["fp", "completed", { B: Uint8Array.of(1) }, /fp is not a stored fingerprint/],
    ["fp", "in_progress", { S: "no mark" }, /fp is not a stored fingerprint/],
    ["res", "completed", undefined, /res is not binary/],
    ["rets", "in_progress", undefined, /rets is not a whole number/],
  ] as const)(
    "%s of a %s item as %j: get and claim of that key reject naming it, delete clears it",
    async (name, state, value, why) => {
      const key = `malformed-${name}-${randomUUID()}`;
      await put(key, state, name, value as AttributeValue | undefined);
      const named = new RegExp(`the item of key "${key}" is not an idemkit record \\(${why.source}`);
      await expect(store().get(key)).rejects.toThrow(named);
      await expect(store().claim(key, claimOf())).rejects.toThrow(/is not an idemkit record/);
      expect(await store().claim(`fine-${randomUUID()}`, claimOf())).toMatchObject({ acquired: true });
      expect(await store().delete(key)).toBe(false);
      expect(await store().claim(key, claimOf())).toMatchObject({ acquired: true, fence: 1 });
    },
  );

  // A claim may take a released or expired item: it must not write over one it cannot read (its condition
  // checks the item's shape), only read it and reject naming the key.
  it.each([
    ["released", "fence", { N: "-3" }, /fence is "-3"/],
    ["released", "fence", { N: "9007199254740993" }, /fence is "9007199254740993"/],
    ["released", "fence", { S: "1" }, /fence is an object/],
    ["released", "tok", { N: "1" }, /tok is not a string/],
    ["lapsed", "fence", { N: "0" }, /fence is "0"/],
    ["lapsed", "rets", undefined, /rets is not a whole number/],
  ] as const)(
    "a claim of a %s item whose %s is %j is refused in its condition (the item is left as it was)",
    async (state, name, value, why) => {
      const key = `unwritten-${name}-${randomUUID()}`;
      await put(
        key,
        state === "released" ? "released" : "in_progress",
        name,
        value as AttributeValue | undefined,
      );
      if (state === "lapsed") {
        await client.send(
          new UpdateItemCommand({
            TableName: fresh.table,
            Key: { pk: { S: itemKey(key) } },
            UpdateExpression: "SET #until = :past",
            ExpressionAttributeNames: { "#until": "until" },
            ExpressionAttributeValues: { ":past": { N: "1" } },
          }),
        );
      }
      const before = await rawItem(key);
      await expect(store().claim(key, claimOf())).rejects.toThrow(
        new RegExp(`the item of key "${key}" is not an idemkit record \\(${why.source}`),
      );
      expect(await rawItem(key)).toEqual(before);
    },
  );

  it("through core: that key is answered 503 with a store-error event, another key 201", async () => {
    const events: string[] = [];
    const idem = createIdempotency({
      store: store(),
      scope: "global",
      onEvent: (event) => events.push(event.type),
    });
    const route = idem.wrap(async () => new Response("created", { status: 201 }));
    const post = (key: string) =>
      route(new Request("http://x/orders", { method: "POST", headers: { "idempotency-key": key } }));
    const key = `broken-${randomUUID()}`;
    expect((await post(key)).status).toBe(201);
    // The item core stored under its own form of the key: its outcome removed.
    const scan = await client.send(new ScanCommand({ TableName: fresh.table, ConsistentRead: true }));
    const item = scan.Items?.find((i) => i.pk?.S?.endsWith(key));
    await client.send(
      new UpdateItemCommand({
        TableName: fresh.table,
        Key: { pk: item!.pk! },
        UpdateExpression: "REMOVE res",
      }),
    );
    expect((await post(key)).status).toBe(503);
    expect(events).toContain("store-error");
    expect((await post(`fine-${randomUUID()}`)).status).toBe(201);
  });
});
