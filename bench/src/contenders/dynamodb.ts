import {
  type AttributeValue,
  ConditionalCheckFailedException,
  CreateTableCommand,
  DeleteItemCommand,
  DeleteTableCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { createDynamoDbStore, ensureTable } from "@idemkit/dynamodb";
import { idemkitContender, RETENTION_MS } from "./idemkit.js";
import { sha256 } from "./memory.js";
import { type Contender, InFlightError, TAKEOVER_LEASE_MS } from "./types.js";

const dropTable = (client: DynamoDBClient, table: string) => async () => {
  await client.send(new DeleteTableCommand({ TableName: table })).catch(() => {});
};

/**
 * The store as a user creates it (its default `clockToleranceMs`, 1 s). A crashed owner claims through a
 * second store on the same client and table with no tolerance: the lease it leaves ends after
 * `TAKEOVER_LEASE_MS`, as the takeover scenario expects, not a second later.
 */
export async function dynamodbIdemkit(client: DynamoDBClient, table: string): Promise<Contender> {
  // dynalite has no TTL (UpdateTimeToLive is unknown to it); DynamoDB would get `timeToLive: true`.
  await ensureTable(client, { table, timeToLive: false });
  return idemkitContender(
    "dynamodb",
    createDynamoDbStore({ client, table }),
    dropTable(client, table),
    createDynamoDbStore({ client, table, clockToleranceMs: 0 }),
  );
}

/**
 * The hand-written baseline on the same DynamoDBClient: a `PutItem` conditioned on the key being absent
 * or past its deadline claims it; when the condition fails, DynamoDB returns the item in the same reply
 * (`ReturnValuesOnConditionCheckFailure: ALL_OLD`): the replay, or the in-flight claim. dynalite ignores
 * that parameter, so there (and only there) the baseline reads the item with a consistent `GetItem`, as
 * idemkit's store does. One `UpdateItem` completes it (no owner check). Deadlines are the app's clock
 * (DynamoDB has none); `ttl` is written for DynamoDB's TTL, as a user would.
 */
export async function dynamodbBaseline(client: DynamoDBClient, table: string): Promise<Contender> {
  await client.send(
    new CreateTableCommand({
      TableName: table,
      AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
      KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
      BillingMode: "PAY_PER_REQUEST",
    }),
  );
  const ttl = (deadline: number) => ({ N: String(Math.ceil(deadline / 1000)) });

  /** The live item that made the claim fail, or `undefined` when this call claimed the key. */
  const claim = async (key: string, fingerprint: string, leaseMs: number) => {
    const now = Date.now();
    try {
      await client.send(
        new PutItemCommand({
          TableName: table,
          Item: {
            pk: { S: key },
            done: { BOOL: false },
            fp: { S: fingerprint },
            deadline: { N: String(now + leaseMs) },
            ttl: ttl(now + leaseMs),
          },
          ConditionExpression: "attribute_not_exists(pk) OR deadline <= :now",
          ExpressionAttributeValues: { ":now": { N: String(now) } },
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        }),
      );
      return undefined;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      if (error.Item) return error.Item;
      const { Item } = await client.send(
        new GetItemCommand({ TableName: table, Key: { pk: { S: key } }, ConsistentRead: true }),
      );
      // Gone in between (its owner's work failed and deleted it): answered as in flight; a retry claims it.
      return Item ?? ({ done: { BOOL: false }, fp: { S: fingerprint } } as Record<string, AttributeValue>);
    }
  };

  return {
    name: "baseline",
    store: "dynamodb",
    async run(key, input, work) {
      const fingerprint = sha256(input);
      const existing = await claim(key, fingerprint, 30_000);
      if (existing) {
        if (existing.fp?.S !== fingerprint) throw new Error("fingerprint mismatch");
        if (!existing.done?.BOOL) throw new InFlightError(key);
        return JSON.parse(existing.res!.S!);
      }
      let value: unknown;
      try {
        value = await work();
      } catch (error) {
        await client.send(new DeleteItemCommand({ TableName: table, Key: { pk: { S: key } } }));
        throw error;
      }
      const deadline = Date.now() + RETENTION_MS;
      await client.send(
        new UpdateItemCommand({
          TableName: table,
          Key: { pk: { S: key } },
          UpdateExpression: "SET done = :true, res = :res, deadline = :deadline, #ttl = :ttl",
          ExpressionAttributeNames: { "#ttl": "ttl" },
          ExpressionAttributeValues: {
            ":true": { BOOL: true },
            ":res": { S: JSON.stringify(value) },
            ":deadline": { N: String(deadline) },
            ":ttl": ttl(deadline),
          },
        }),
      );
      return value;
    },
    async abandon(key, input) {
      await claim(key, sha256(input), TAKEOVER_LEASE_MS);
    },
    close: dropTable(client, table),
  };
}
