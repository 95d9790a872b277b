// The options of createDynamoDbStore and ensureTable, and the durations each call receives, are checked:
// each failure names the option and what it accepts.
import { randomUUID } from "node:crypto";
import { CreateTableCommand, DeleteTableCommand, DescribeTableCommand } from "@aws-sdk/client-dynamodb";
import { MAX_STORE_DURATION_MS } from "@idemkit/core";
import { afterAll, describe, expect, it } from "vitest";
import { createDynamoDbStore } from "./store.js";
import { ensureTable } from "./table.js";
import { newClient, skip, titled } from "./test-support.js";

const client = newClient();
afterAll(() => client.destroy());

describe("createDynamoDbStore options", () => {
  const make = (options: unknown) => () => createDynamoDbStore(options as never);
  it.each([
    [undefined, /needs an options object with `client` and `table`/],
    [{ table: "idem" }, /client must be a DynamoDBClient/],
    [{ client: {}, table: "idem" }, /client must be a DynamoDBClient/],
    [{ client, table: "ab" }, /table must be a DynamoDB table name/],
    [{ client, table: "has space" }, /table must be a DynamoDB table name/],
    [{ client, table: "idem", tabel: "x" }, /unknown option "tabel"/],
    [{ client, table: "idem", keyAttribute: "" }, /keyAttribute must be 1 to 255 characters/],
    [
      { client, table: "idem", ttlAttribute: "until" },
      /ttlAttribute must not be one of the store's own attributes/,
    ],
    [
      { client, table: "idem", keyAttribute: "x", ttlAttribute: "x" },
      /keyAttribute and ttlAttribute must differ/,
    ],
    [
      { client, table: "idem", clockToleranceMs: -1 },
      /clockToleranceMs must be an integer from 0 to 3600000/,
    ],
    [{ client, table: "idem", clockToleranceMs: 1.5 }, /clockToleranceMs must be an integer/],
    [{ client, table: "idem", now: 5 }, /now must be a function/],
  ])("%j is refused", (options, message) => {
    expect(make(options)).toThrow(message);
  });

  it("durations out of range reject before anything is sent", async () => {
    const store = createDynamoDbStore({ client, table: "never-created" });
    const claim = { token: "t", fingerprint: "", leaseMs: 0, retentionMs: 0 };
    await expect(store.claim("k", claim)).rejects.toThrow(
      /claim: leaseMs must be a number of milliseconds above 0/,
    );
    await expect(
      store.claim("k", { ...claim, leaseMs: 1, retentionMs: MAX_STORE_DURATION_MS + 1 }),
    ).rejects.toThrow(/retentionMs/);
    await expect(store.extend("k", "t", Number.NaN)).rejects.toThrow(/extend: leaseMs/);
    await expect(store.complete("k", "t", { result: new Uint8Array(), retentionMs: -1 })).rejects.toThrow(
      /complete: retentionMs/,
    );
  });
});

describe.skipIf(Boolean(skip))(titled("ensureTable"), () => {
  it("creates an on-demand table keyed by a string partition key, and leaves an existing one as it is", async () => {
    const table = `idemkit-ensure.${randomUUID().slice(0, 8)}`;
    await ensureTable(client, { table, keyAttribute: "id", timeToLive: false });
    await ensureTable(client, { table, keyAttribute: "id", timeToLive: false });
    const { Table } = await client.send(new DescribeTableCommand({ TableName: table }));
    expect(Table?.KeySchema).toEqual([{ AttributeName: "id", KeyType: "HASH" }]);
    expect(Table?.BillingModeSummary?.BillingMode ?? "PAY_PER_REQUEST").toBe("PAY_PER_REQUEST");
    const store = createDynamoDbStore({ client, table, keyAttribute: "id" });
    const claim = { token: randomUUID(), fingerprint: "", leaseMs: 1000, retentionMs: 0 };
    expect(await store.claim("k", claim)).toMatchObject({ acquired: true, fence: 1 });
  });

  it.each([
    [undefined, /ensureTable\(client, options\) needs an options object with `table`; got undefined/],
    [{ table: "ab" }, /table must be a DynamoDB table name/],
    [{ table: "idem", keyAttribute: "" }, /keyAttribute must be 1 to 255 characters/],
    [{ table: "idem", keyAttribute: "st" }, /keyAttribute must not be one of the store's own attributes/],
    [{ table: "idem", ttlAttribute: "fence" }, /ttlAttribute must not be one of the store's own attributes/],
    [{ table: "idem", keyAttribute: "x", ttlAttribute: "x" }, /keyAttribute and ttlAttribute must differ/],
    [{ table: "idem", keyAttribute: "ttl" }, /keyAttribute and ttlAttribute must differ/],
    [{ table: "idem", timeToLive: "no" }, /timeToLive must be true or false/],
  ])("%j is refused, as the store refuses it, before anything is sent", async (options, message) => {
    let sent = 0;
    const counted = newClient();
    counted.middlewareStack.add(
      (next) => async (args) => {
        sent++;
        return next(args);
      },
      { step: "initialize", name: "count" },
    );
    await expect(ensureTable(counted, options as never)).rejects.toThrow(message);
    expect(sent).toBe(0);
    counted.destroy();
  });

  it.each([
    [
      "keyed by another attribute",
      [["id", "HASH", "S"]],
      /has the key schema id \(HASH, S\); the store needs pk \(HASH, S\)/,
    ],
    [
      "with a sort key",
      [
        ["pk", "HASH", "S"],
        ["sk", "RANGE", "S"],
      ],
      /has the key schema pk \(HASH, S\), sk \(RANGE, S\); the store needs pk \(HASH, S\) and no sort key/,
    ],
    [
      "keyed by a number",
      [["pk", "HASH", "N"]],
      /has the key schema pk \(HASH, N\); the store needs pk \(HASH, S\)/,
    ],
  ] as const)(
    "an existing table %s is refused, naming the table and its key schema",
    async (_, keys, message) => {
      const table = `idemkit-other.${randomUUID().slice(0, 8)}`;
      await client.send(
        new CreateTableCommand({
          TableName: table,
          AttributeDefinitions: keys.map(([name, , type]) => ({ AttributeName: name, AttributeType: type })),
          KeySchema: keys.map(([name, kind]) => ({ AttributeName: name, KeyType: kind })),
          BillingMode: "PAY_PER_REQUEST",
        }),
      );
      await expect(ensureTable(client, { table, timeToLive: false })).rejects.toThrow(
        new RegExp(`table ${table.replace(".", "\\.")} ${message.source}`),
      );
      await client.send(new DeleteTableCommand({ TableName: table }));
    },
  );

  it("rejects unknown options", async () => {
    await expect(ensureTable(client, { table: "idem", ttl: "x" } as never)).rejects.toThrow(
      /unknown option "ttl"/,
    );
  });
});
