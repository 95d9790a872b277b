import { IdempotencyConfig, makeIdempotent } from "@aws-lambda-powertools/idempotency";
import { DynamoDBPersistenceLayer } from "@aws-lambda-powertools/idempotency/dynamodb";
import { createIdempotency } from "@idemkit/core";
import { createRedisStore } from "@idemkit/redis";
import { Redis } from "ioredis";
import { chargeCard } from "../your-app.js";

interface Payment {
  paymentId: string;
  amount: number;
}

// #region before
// Before: any function, keyed on part of its payload.
const config = new IdempotencyConfig({ eventKeyJmesPath: "paymentId" });
const persistenceStore = new DynamoDBPersistenceLayer({ tableName: "idempotency" });
const chargeOnce = makeIdempotent(async (payment: Payment) => chargeCard(payment), {
  persistenceStore,
  config,
});
// #endregion before

// #region after
// After: run(), with the key and the input named.
const idem = createIdempotency({ store: createRedisStore({ client: new Redis() }) });
const charge = (payment: Payment) =>
  idem.run({ key: payment.paymentId, input: payment }, ({ fence }) => chargeCard(payment, fence));

// #endregion after

export { charge, chargeOnce };
