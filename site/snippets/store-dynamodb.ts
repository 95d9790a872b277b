// #region store
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { createIdempotency } from "@idemkit/core";
import { createDynamoDbStore, ensureTable } from "@idemkit/dynamodb";
import { accountIdOf, chargeCard } from "./your-app.js";

const client = new DynamoDBClient({}); // region and credentials from the environment, as usual
// Or create the table with your infrastructure code (see "Table design").
await ensureTable(client, { table: "idempotency" });
const store = createDynamoDbStore({ client, table: "idempotency" });

const idem = createIdempotency({ store, scope: (request) => accountIdOf(request) });
// #endregion store

// #region powertools
// What was makeIdempotent(fn, { persistenceStore: new DynamoDBPersistenceLayer(…) }):
// a new table of its own (Powertools' items have another shape), and run() keyed by the payment id.
const payments = createIdempotency({
  store: createDynamoDbStore({ client, table: "idempotency-idemkit" }),
  retentionMs: 3_600_000, // Powertools' expiresAfterSeconds (3600 by default)
});
const charge = (payment: { paymentId: string; amount: number }) =>
  payments.run({ key: payment.paymentId, input: payment }, ({ fence }) => chargeCard(payment, fence));

// #endregion powertools

export { charge, idem };
