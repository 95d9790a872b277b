// The dynamodb chaos group's setting: dynalite (DynamoDB's API on an in-memory LevelDB) in this process on
// a loopback port, behind the fault proxy; the workers' DynamoDB clients go through the proxy.
import type { Server } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { createDynamoDbStore, ensureTable } from "@idemkit/dynamodb";
import type { Cluster, GroupContext } from "./harness.js";
import { FaultProxy } from "./proxy.js";

// The SDK warns once per process that Node 20 support ends; the chaos table says nothing about it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

export interface DynamoDbGroup {
  ctx: GroupContext;
  close(): Promise<void>;
}

/** Starts the group; `startWorkers` spawns the workers on `endpoint` (the proxy) and `table`. */
export async function openDynamoDbGroup(
  startWorkers: (endpoint: string, table: string) => Promise<Cluster>,
): Promise<DynamoDbGroup> {
  const dynalite = createRequire(import.meta.url)("dynalite") as (options: object) => Server;
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const client = new DynamoDBClient({
    endpoint: `http://127.0.0.1:${port}`,
    region: "us-east-1",
    credentials: { accessKeyId: "chaos", secretAccessKey: "chaos" },
  });
  const table = "idemkit-chaos";
  await ensureTable(client, { table, timeToLive: false });
  const proxy = await new FaultProxy(port).start();
  const cluster = await startWorkers(`http://127.0.0.1:${proxy.port}`, table);
  return {
    // The final read goes straight to dynalite; every machine here shares one clock.
    ctx: { cluster, store: createDynamoDbStore({ client, table }), proxy },
    async close() {
      await cluster.close();
      await proxy.close();
      client.destroy();
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
