import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { runStoreConformance } from "@idemkit/conformance";
import type { IdempotencyStore } from "@idemkit/core";
import { afterAll, beforeAll } from "vitest";
import { createDynamoDbStore, OUTCOME_BYTES_GUARANTEED } from "./store.js";
import { freshTable, newClient, purgeByTtl, skip } from "./test-support.js";

let fresh: Awaited<ReturnType<typeof freshTable>> | undefined;
const clients = new Map<IdempotencyStore, DynamoDBClient>();

beforeAll(async () => {
  if (!skip) fresh = await freshTable("conformance");
});
afterAll(async () => {
  await fresh?.drop();
});

runStoreConformance({
  name: "dynamodb",
  skip,
  // A client per store, so that the race checks claim through separate connections. The suite times
  // deadlines to the millisecond: no clock tolerance (the store's own tests cover it).
  createStore() {
    const client = newClient();
    const store = createDynamoDbStore({ client, table: fresh!.table, clockToleranceMs: 0 });
    clients.set(store, client);
    return store;
  },
  teardown(store) {
    clients.get(store)?.destroy();
  },
  // An item holds 400 KB, key and fingerprint included (README, "Outcome size").
  limits: { outcomeBytes: OUTCOME_BYTES_GUARANTEED },
  // What DynamoDB's TTL does, at once (dynalite has none). TTL works in whole seconds, rounded up.
  purge: (store) => purgeByTtl(clients.get(store)!, fresh!.table),
});
