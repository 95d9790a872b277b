// Shared by the test files; excluded from the build and the package.
import { randomBytes } from "node:crypto";
import type { Server } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import {
  DeleteItemCommand,
  DeleteTableCommand,
  DynamoDBClient,
  type DynamoDBClientConfig,
  ScanCommand,
} from "@aws-sdk/client-dynamodb";
import { skipUnlessAvailable } from "@idemkit/conformance";
import { ensureTable } from "./table.js";

// The SDK warns once per process that Node 20 support ends; the tests say nothing about it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

type Dynalite = (options: {
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
}) => Server;

/** dynalite (an implementation of DynamoDB's API on LevelDB, in memory), listening on a loopback port. */
async function startDynalite(): Promise<{ endpoint: string; server: Server }> {
  const dynalite = createRequire(import.meta.url)("dynalite") as Dynalite;
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

let started: { endpoint: string; server: Server } | undefined;
let problem: string | undefined;
try {
  started = await startDynalite();
} catch (error) {
  problem = `dynalite did not start (${(error as Error).message})`;
}

/** `false` when dynalite runs; otherwise the visible skip reason (or a throw under IDEMKIT_REQUIRE). */
export const skip = skipUnlessAvailable("dynamodb", problem);

/** A client of the test's dynalite; dynalite takes any credentials. */
export const newClient = (config: DynamoDBClientConfig = {}) =>
  new DynamoDBClient({
    endpoint: started?.endpoint ?? "http://127.0.0.1:9",
    region: "us-east-1",
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    ...config,
  });

/** A fresh table for one test file, and the function that drops it (and stops dynalite when it is the last). */
export async function freshTable(label: string): Promise<{ table: string; drop: () => Promise<void> }> {
  const table = `idemkit-${label}.${randomBytes(4).toString("hex")}`;
  const client = newClient();
  // dynalite has no TTL (UpdateTimeToLive is unknown to it): the tests purge by hand (`purgeByTtl`).
  await ensureTable(client, { table, timeToLive: false });
  return {
    table,
    async drop() {
      await client.send(new DeleteTableCommand({ TableName: table })).catch(() => {});
      client.destroy();
    },
  };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A describe title that shows why the suite was skipped. */
export const titled = (name: string) => (skip ? `${name} (skipped: ${skip})` : name);

/**
 * What DynamoDB's TTL does, done at once: deletes every item whose TTL attribute (epoch seconds) has
 * passed, each on the condition that it still has that TTL (a write in between moved it). dynalite has no
 * TTL; the conformance suite's fence checks need the records past their keep-until to be gone.
 */
export async function purgeByTtl(
  client: DynamoDBClient,
  table: string,
  { keyAttribute = "pk", ttlAttribute = "ttl", now = Date.now() } = {},
): Promise<number> {
  const nowSeconds = Math.floor(now / 1000);
  let removed = 0;
  let start: Record<string, never> | undefined;
  do {
    const page = await client.send(
      new ScanCommand({
        TableName: table,
        ConsistentRead: true,
        FilterExpression: "#ttl < :now",
        ExpressionAttributeNames: { "#ttl": ttlAttribute },
        ExpressionAttributeValues: { ":now": { N: String(nowSeconds) } },
        ExclusiveStartKey: start,
      }),
    );
    for (const item of page.Items ?? []) {
      const key = item[keyAttribute];
      const ttl = item[ttlAttribute];
      if (key === undefined || ttl === undefined) continue;
      try {
        await client.send(
          new DeleteItemCommand({
            TableName: table,
            Key: { [keyAttribute]: key },
            ConditionExpression: "#ttl = :ttl",
            ExpressionAttributeNames: { "#ttl": ttlAttribute },
            ExpressionAttributeValues: { ":ttl": ttl },
          }),
        );
        removed++;
      } catch (error) {
        if ((error as { name?: unknown }).name !== "ConditionalCheckFailedException") throw error;
      }
    }
    start = page.LastEvaluatedKey as Record<string, never> | undefined;
  } while (start !== undefined);
  return removed;
}
