import { randomUUID } from "node:crypto";
import { DeleteItemCommand, type DynamoDBClient, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { type Item, isLive } from "./item.js";
import { expressions } from "./writes.js";

const isConditionFailure = (error: unknown) =>
  (error as { name?: unknown } | null)?.name === "ConditionalCheckFailedException";

interface Table {
  client: DynamoDBClient;
  table: string;
  names: { key: string; ttl: string };
  now: () => number;
}

/**
 * `delete`: removes the item whatever its state (fence included); `true` when it held a live record.
 *
 * One `DeleteItem` with `ALL_OLD` cannot answer after a lost reply: the SDK sends it again, the item is
 * gone, and the resent request returns nothing. So the item is first marked with a nonce of this call (an
 * `UpdateItem` returning the item as it was: a resent mark returns the same record, the mark aside), and
 * then deleted on the condition that it bears the mark. The answer is the deleted item's, or, when the
 * delete's own reply was lost, the marked one's: the same record unless a claim came in between.
 */
export async function deleteItem(
  { client, table, names, now }: Table,
  key: Record<string, { S: string }>,
): Promise<boolean> {
  const at = now();
  const mark = { ":del": { S: randomUUID() } };
  let marked: Item | undefined;
  try {
    const answer = await client.send(
      new UpdateItemCommand({
        TableName: table,
        Key: key,
        ...expressions(names, "attribute_exists(#k)", "SET #del = :del", mark),
        ReturnValues: "ALL_OLD",
      }),
    );
    marked = answer.Attributes;
  } catch (error) {
    // No item: nothing to remove.
    if (isConditionFailure(error)) return false;
    throw error;
  }
  try {
    const answer = await client.send(
      new DeleteItemCommand({
        TableName: table,
        Key: key,
        ...expressions(names, "#del = :del", undefined, mark),
        ReturnValues: "ALL_OLD",
      }),
    );
    return isLive(answer.Attributes, at);
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    // The mark is gone: this very delete removed the item and its reply was lost (the SDK sent it again),
    // or another call removed it first. Either way the record is gone; say what it was when marked.
    const resent = ((error as { $metadata?: { attempts?: number } }).$metadata?.attempts ?? 1) > 1;
    return resent && isLive(marked, at);
  }
}
