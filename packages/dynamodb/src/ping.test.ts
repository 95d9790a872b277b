import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDynamoDbStore } from "./store.js";
import { freshTable, newClient, skip, titled } from "./test-support.js";

describe.skipIf(Boolean(skip))(titled("dynamodb store: ping"), () => {
  let fresh: Awaited<ReturnType<typeof freshTable>>;
  const client = newClient();
  beforeAll(async () => {
    fresh = await freshTable("ping");
  });
  afterAll(async () => {
    client.destroy();
    await fresh?.drop();
  });

  it("resolves while the table answers, and rejects naming a table that does not exist", async () => {
    await expect(createDynamoDbStore({ client, table: fresh.table }).ping()).resolves.toBeUndefined();
    const missing = createDynamoDbStore({ client, table: `${fresh.table}-missing` });
    await expect(missing.ping()).rejects.toThrow(/non-existent table|not found|ResourceNotFound/i);
  });
});
