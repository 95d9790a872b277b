// Before: a Lambda handler made idempotent with Powertools, keyed on the client's header.
import { IdempotencyConfig, makeIdempotent } from "@aws-lambda-powertools/idempotency";
import { DynamoDBPersistenceLayer } from "@aws-lambda-powertools/idempotency/dynamodb";
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from "aws-lambda";
import { createOrder } from "../your-app.js";

const persistenceStore = new DynamoDBPersistenceLayer({ tableName: "idempotency" });
const config = new IdempotencyConfig({
  eventKeyJmesPath: 'headers."Idempotency-Key"', // without it, the key is a hash of the whole event
  payloadValidationJmesPath: "body", // optional: a reused key with another body throws
  expiresAfterSeconds: 3600, // the default: one hour
});

export const handler = makeIdempotent(
  async (event: APIGatewayProxyEvent, _context: Context): Promise<APIGatewayProxyResult> => {
    const order = await createOrder(JSON.parse(event.body ?? "{}"));
    return { statusCode: 201, body: JSON.stringify(order) };
  },
  { persistenceStore, config },
);
