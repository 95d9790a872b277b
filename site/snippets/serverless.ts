// #region http
// AWS Lambda behind API Gateway or a function URL: Hono's adapter turns the event into a Web Request.
import { createIdempotency } from "@idemkit/core";
import { createRedisStore } from "@idemkit/redis";
import { Hono } from "hono";
import { handle } from "hono/aws-lambda";
import { Redis } from "ioredis";
import { accountIdOf, chargeCard, createOrder } from "./your-app.js";

// Module scope: created once per instance, reused by every invocation it serves.
const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379", {
  enableOfflineQueue: false,
  commandTimeout: 1_000,
  maxRetriesPerRequest: 1,
});
const idem = createIdempotency({
  store: createRedisStore({ client: redis }), // shared by every instance: never the memory store here
  scope: (request) => accountIdOf(request),
});

const app = new Hono();
app.post("/orders", (c) =>
  idem.handle(c.req.raw, async (request, { fence }) =>
    Response.json(await createOrder(await request.json(), { fence }), { status: 201 }),
  ),
);
export const handler = handle(app);

// #endregion http

// #region sqs
// A queue trigger: one run() per message, keyed by its id (a redelivery gets the stored value).
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";

export async function onMessages(event: SQSEvent): Promise<SQSBatchResponse> {
  const batchItemFailures: SQSBatchResponse["batchItemFailures"] = [];
  for (const record of event.Records) {
    try {
      const body = JSON.parse(record.body) as { orderId: string; amount: number };
      await idem.run({ key: record.messageId, input: body }, ({ fence }) => chargeCard(body, fence));
    } catch {
      batchItemFailures.push({ itemIdentifier: record.messageId }); // SQS redelivers just this one
    }
  }
  return { batchItemFailures };
}
// #endregion sqs
