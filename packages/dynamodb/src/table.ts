import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  ResourceInUseException,
  ResourceNotFoundException,
  type TableDescription,
  UpdateTimeToLiveCommand,
} from "@aws-sdk/client-dynamodb";
import { OWN_ATTRIBUTES } from "./item.js";
import { booleanOption, describe, integerOption, rejectUnknownOptions, tableOptions } from "./options.js";

export interface DynamoDbTableOptions {
  /** The table's name. */
  table: string;
  /** The partition key attribute (a string). Default `pk`, as the store's `keyAttribute`. */
  keyAttribute?: string;
  /** The TTL attribute. Default `ttl`, as the store's `ttlAttribute`. */
  ttlAttribute?: string;
  /**
   * Enable DynamoDB's TTL on `ttlAttribute` (default `true`), so records past their keep-until are
   * deleted by DynamoDB, at no write cost. `false` for emulators without TTL (dynalite).
   */
  timeToLive?: boolean;
  /** How long to wait for the table to become ACTIVE, in ms (default 120000). */
  waitMs?: number;
}

const OPTION_NAMES = ["table", "keyAttribute", "ttlAttribute", "timeToLive", "waitMs"];

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const named = (error: unknown, name: string) => (error as { name?: unknown } | null)?.name === name;

/**
 * Creates the store's table if it does not exist: a string partition key and nothing else, on-demand
 * capacity (PAY_PER_REQUEST: no throughput to plan, no throttling at a burst of retries), then waits
 * until it is ACTIVE and enables TTL on `ttlAttribute` if it is not enabled yet. Safe to run at every
 * start; an existing table is left as it is apart from TTL, and must have the key schema the store needs
 * (else an error naming the table and its key schema). Needs `dynamodb:CreateTable`,
 * `DescribeTable`, `DescribeTimeToLive` and `UpdateTimeToLive`; most deployments create the table with
 * their infrastructure code instead (the README shows the same design).
 */
export async function ensureTable(client: DynamoDBClient, options: DynamoDbTableOptions): Promise<void> {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `@idemkit/dynamodb: ensureTable(client, options) needs an options object with \`table\`; got ${describe(options)}`,
    );
  }
  rejectUnknownOptions("ensureTable", options, OPTION_NAMES);
  // The same checks as the store's: a table ensureTable makes is one the store can use.
  const { table, keyAttribute, ttlAttribute } = tableOptions(
    options as unknown as Record<string, unknown>,
    OWN_ATTRIBUTES,
  );
  const timeToLive = booleanOption("timeToLive", options.timeToLive) ?? true;
  const waitMs = integerOption("waitMs", options.waitMs, 0, 3_600_000) ?? 120_000;
  try {
    await client.send(
      new CreateTableCommand({
        TableName: table,
        AttributeDefinitions: [{ AttributeName: keyAttribute, AttributeType: "S" }],
        KeySchema: [{ AttributeName: keyAttribute, KeyType: "HASH" }],
        BillingMode: "PAY_PER_REQUEST",
      }),
    );
  } catch (error) {
    // It exists already (or is being created by another process): wait for it as for our own.
    if (!(error instanceof ResourceInUseException || named(error, "ResourceInUseException"))) throw error;
  }
  checkKeySchema(await waitUntilActive(client, table, waitMs), table, keyAttribute);
  if (!timeToLive) return;
  const ttl = await client.send(new DescribeTimeToLiveCommand({ TableName: table }));
  const status = ttl.TimeToLiveDescription?.TimeToLiveStatus;
  if (status === "ENABLED" || status === "ENABLING") {
    const current = ttl.TimeToLiveDescription?.AttributeName;
    if (current !== ttlAttribute) {
      throw new Error(
        `@idemkit/dynamodb: table ${table} has TTL on "${current}", not on "${ttlAttribute}": pass ttlAttribute: "${current}" to the store and here`,
      );
    }
    return;
  }
  await client.send(
    new UpdateTimeToLiveCommand({
      TableName: table,
      TimeToLiveSpecification: { AttributeName: ttlAttribute, Enabled: true },
    }),
  );
}

/**
 * An existing table must be keyed as the store writes: `keyAttribute`, a string, as its only key. Another
 * design (Powertools' `id`, a sort key, a numeric key) would fail every call, or, worse, only some.
 */
function checkKeySchema(description: TableDescription, table: string, keyAttribute: string): void {
  const keys = description.KeySchema ?? [];
  const typeOf = (name: string | undefined) =>
    description.AttributeDefinitions?.find((d) => d.AttributeName === name)?.AttributeType ?? "?";
  const expected = `${keyAttribute} (HASH, S)`;
  const actual = keys.map((k) => `${k.AttributeName} (${k.KeyType}, ${typeOf(k.AttributeName)})`).join(", ");
  if (actual === expected) return;
  throw new Error(
    `@idemkit/dynamodb: table ${table} has the key schema ${actual || "(none)"}; the store needs ${expected} ` +
      `and no sort key: pass its partition key as keyAttribute if it is a string one, or use a table of its own`,
  );
}

async function waitUntilActive(
  client: DynamoDBClient,
  table: string,
  waitMs: number,
): Promise<TableDescription> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const { Table } = await client.send(new DescribeTableCommand({ TableName: table }));
      if (Table?.TableStatus === "ACTIVE") return Table;
    } catch (error) {
      // Just created: DescribeTable may not see it yet.
      if (!(error instanceof ResourceNotFoundException || named(error, "ResourceNotFoundException")))
        throw error;
    }
    if (Date.now() >= deadline) {
      throw new Error(`@idemkit/dynamodb: table ${table} did not become ACTIVE within ${waitMs} ms`);
    }
    await sleep(Math.min(1000, Math.max(10, deadline - Date.now())));
  }
}
