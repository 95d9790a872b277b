import { createRequire } from "node:module";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { dynamodbBaseline, dynamodbIdemkit } from "./contenders/dynamodb.js";
import type { Counter } from "./counts.js";
import { DYNALITE_VERSION, startDynalite } from "./dynalite.js";
import type { StoreSetup } from "./setup.js";

const SDK_VERSION = (
  createRequire(import.meta.url)("@aws-sdk/client-dynamodb/package.json") as { version: string }
).version;

// The SDK warns once per process that Node 20 support ends; the bench output stays readable.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

/**
 * dynalite is one Node process, and the SDK spends milliseconds of CPU on each request (~3 ms measured
 * here): a few hundred requests a second at best, ~100 on a loaded machine. With 256 in flight a call
 * queued for seconds, past core's `storeTimeoutMs` (2 s): idemkit failed closed (503) while the
 * baseline, which has no timeout, waited, and the abandoned requests were still queued in the next
 * measurement. At 64, replays still timed out on a loaded machine.
 */
const MAX_IN_FLIGHT = 16;
const CAPPED =
  "dynalite and the SDK serve a few hundred requests/s: more in flight queue calls past core's storeTimeoutMs (2 s), a measure of the emulator, not of DynamoDB";

/**
 * Both contenders on one DynamoDBClient, against dynalite in a child process (DynamoDB itself is not
 * reachable here). Every HTTP request the client sends is counted by a middleware in its `deserialize`
 * step, which runs once per attempt (the SDK's retries included).
 */
export async function setupDynamodb(runId: string): Promise<StoreSetup | string> {
  let server: Awaited<ReturnType<typeof startDynalite>>;
  try {
    server = await startDynalite();
  } catch (error) {
    return `dynalite did not start: ${(error as Error).message}`;
  }
  const client = new DynamoDBClient({
    endpoint: server.endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "bench", secretAccessKey: "bench" }, // dynalite takes any
  });
  const counter: Counter = { count: 0 };
  client.middlewareStack.add(
    (next) => async (args) => {
      counter.count++;
      return next(args);
    },
    { step: "deserialize", name: "benchRequestCount" },
  );
  const table = `bench-${runId}`;
  let contenders: Awaited<ReturnType<typeof dynamodbIdemkit>>[];
  try {
    contenders = [
      await dynamodbIdemkit(client, `${table}-idem`),
      await dynamodbBaseline(client, `${table}-bl`),
    ];
  } catch (error) {
    client.destroy();
    await server.stop();
    return `dynalite answered, but the tables could not be made: ${(error as Error).message}`;
  }
  return {
    store: "dynamodb",
    contenders,
    burstOnly: [],
    counter,
    counterSource:
      "a counting middleware on the DynamoDBClient (HTTP requests); dynalite ignores ReturnValuesOnConditionCheckFailure, so a failed conditional write is followed by a GetItem on both contenders (on DynamoDB: 1 request less per replay)",
    maxConcurrency: { limit: MAX_IN_FLIGHT, reason: CAPPED },
    // A measurement at 16 in flight gets through ~100–300 requests here; 3000 abandoned claims per
    // repeat took minutes to prepare.
    maxPreparedKeys: 400,
    version: `dynalite ${DYNALITE_VERSION} in a child process (DynamoDB's API on an in-memory LevelDB), @aws-sdk/client-dynamodb ${SDK_VERSION} (each contender apart on its own, or on one with --contenders-together)`,
    teardown: async () => {
      for (const c of contenders) await c.close();
      client.destroy();
      await server.stop();
    },
  };
}
