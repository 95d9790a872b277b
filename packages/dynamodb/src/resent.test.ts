// What the SDK and DynamoDB do around a conditional write that dynalite does not: a reply lost after the
// write was applied (the SDK sends it again), and the item DynamoDB returns with a failed condition.
import { randomUUID } from "node:crypto";
import { GetItemCommand } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDynamoDbStore } from "./store.js";
import { freshTable, newClient, skip, titled } from "./test-support.js";

describe.skipIf(Boolean(skip))(titled("dynamodb: resent writes and returned items"), () => {
  let fresh: Awaited<ReturnType<typeof freshTable>>;
  const client = newClient();
  beforeAll(async () => {
    fresh = await freshTable("resent");
  });
  afterAll(async () => {
    client.destroy();
    await fresh?.drop();
  });
  const claimOf = (leaseMs = 1000, retentionMs = 60_000) => ({
    token: randomUUID(),
    fingerprint: "fp",
    leaseMs,
    retentionMs,
  });

  it("complete and release whose reply was lost and that the SDK sent again answer true (a repeated extend simply applies again)", async () => {
    const { lossy, lose } = lossyClient();
    const store = createDynamoDbStore({ client: lossy, table: fresh.table });
    const key = `lost-reply-${randomUUID()}`;
    const owner = claimOf(30_000);
    await store.claim(key, owner);
    lose("UpdateItemCommand");
    expect(await store.extend(key, owner.token, 60_000)).toBe(true);
    lose("UpdateItemCommand");
    expect(await store.complete(key, owner.token, { result: Uint8Array.of(4, 2), retentionMs: 60_000 })).toBe(
      true,
    );
    expect(await store.get(key)).toMatchObject({ state: "completed", result: Uint8Array.of(4, 2) });
    // A second completion by the same owner is not its own earlier attempt: false.
    expect(await store.complete(key, owner.token, { result: Uint8Array.of(4, 2), retentionMs: 60_000 })).toBe(
      false,
    );

    const released = `lost-reply-release-${randomUUID()}`;
    const holder = claimOf(30_000);
    await store.claim(released, holder);
    lose("UpdateItemCommand");
    expect(await store.release(released, holder.token)).toBe(true);
    expect(await store.get(released)).toBeUndefined();
    // Each of the three writes was applied and its reply lost (not a refused write's reply).
    expect(lose.dropped).toBe(3);
    lossy.destroy();
  });

  it("delete whose reply was lost and that the SDK sent again answers true for the live record it removed", async () => {
    const { lossy, lose } = lossyClient();
    const store = createDynamoDbStore({ client: lossy, table: fresh.table });
    const key = `lost-delete-${randomUUID()}`;
    await store.claim(key, claimOf(30_000));
    lose("DeleteItemCommand");
    expect(await store.delete(key)).toBe(true);
    expect(lose.dropped).toBe(1);
    expect(await store.get(key)).toBeUndefined();
    const next = claimOf(30_000);
    expect(await store.claim(key, next)).toMatchObject({ acquired: true, fence: 1 });
    // A released record is removed too, fence and all, and answered false, lost reply or not.
    await store.release(key, next.token);
    lose("DeleteItemCommand");
    expect(await store.delete(key)).toBe(false);
    expect(lose.dropped).toBe(2);
    expect(await store.claim(key, claimOf())).toMatchObject({ acquired: true, fence: 1 });
    lossy.destroy();
  });

  /**
   * A client whose next reply to `command` is lost after dynalite applied the write (a 200), as a reset
   * connection loses it; the SDK then sends the request again. `lose.dropped` counts the replies lost.
   */
  const lossyClient = () => {
    const lossy = newClient({ retryStrategy: undefined, maxAttempts: 3 });
    let losing: string | undefined;
    const lose = Object.assign(
      (command: string) => {
        losing = command;
      },
      { dropped: 0 },
    );
    lossy.middlewareStack.add(
      (next, context) => async (args) => {
        const output = await next(args);
        const status = (output.response as { statusCode?: number }).statusCode;
        if (losing === context.commandName && status === 200) {
          losing = undefined;
          lose.dropped++;
          throw Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
        }
        return output;
      },
      { step: "deserialize", name: "loseReply" },
    );
    return { lossy, lose };
  };

  it("a lost claim answers from the item DynamoDB returns with a failed condition, without a read of its own", async () => {
    // dynalite ignores ReturnValuesOnConditionCheckFailure: this client adds the item as DynamoDB would
    // (read here through another client), and counts the reads the store sends itself.
    const returning = newClient();
    let reads = 0;
    returning.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === "GetItemCommand") reads++;
        try {
          return await next(args);
        } catch (error) {
          if ((error as Error).name === "ConditionalCheckFailedException") {
            const input = (args as { input: { TableName: string; Key: Record<string, never> } }).input;
            const { TableName, Key } = input;
            const read = await client.send(new GetItemCommand({ TableName, Key, ConsistentRead: true }));
            Object.assign(error as object, { Item: read.Item });
          }
          throw error;
        }
      },
      { step: "initialize", name: "returnItemOnConditionFailure" },
    );
    const key = `all-old-${randomUUID()}`;
    const owner = claimOf(30_000);
    await createDynamoDbStore({ client, table: fresh.table }).claim(key, owner);
    const store = createDynamoDbStore({ client: returning, table: fresh.table });
    expect(await store.claim(key, claimOf())).toMatchObject({
      acquired: false,
      record: { state: "in_progress", token: owner.token, fence: 1 },
    });
    expect(reads).toBe(0);
    returning.destroy();
  });
});
