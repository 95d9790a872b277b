import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  ResourceInUseException,
  ResourceNotFoundException,
  UpdateTimeToLiveCommand,
} from "@aws-sdk/client-dynamodb";
import { integerOption, rejectUnknownOptions, stringOption } from "./options.js";

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
 * start; an existing table is left as it is apart from TTL. Needs `dynamodb:CreateTable`,
 * `DescribeTable`, `DescribeTimeToLive` and `UpdateTimeToLive`; most deployments create the table with
 * their infrastructure code instead (the README shows the same design).
 */
export async function ensureTable(client: DynamoDBClient, options: DynamoDbTableOptions): Promise<void> {
  rejectUnknownOptions("ensureTable", options, OPTION_NAMES);
  const table = stringOption("table", options.table);
  if (table === undefined) throw new TypeError("@idemkit/dynamodb: ensureTable needs `table`");
  const keyAttribute = stringOption("keyAttribute", options.keyAttribute) ?? "pk";
  const ttlAttribute = stringOption("ttlAttribute", options.ttlAttribute) ?? "ttl";
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
  await waitUntilActive(client, table, waitMs);
  if (options.timeToLive === false) return;
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

async function waitUntilActive(client: DynamoDBClient, table: string, waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const { Table } = await client.send(new DescribeTableCommand({ TableName: table }));
      if (Table?.TableStatus === "ACTIVE") return;
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
