import { ConflictError, createIdempotency, MismatchError, StoreUnavailableError } from "@idemkit/core";
import { createRedisStore } from "@idemkit/redis";
import { Redis } from "ioredis";
import { chargeCard, type QueueMessage } from "./your-app.js";

const redis = new Redis({ enableOfflineQueue: false });
// No scope needed for run(): HTTP options apply to HTTP entry points only.
const idem = createIdempotency({ store: createRedisStore({ client: redis }) });

// #region consumer
async function onMessage(message: QueueMessage): Promise<"ack" | "retry-later"> {
  try {
    // Runs at most once per message id; a redelivery gets the stored receipt back.
    const receipt = await idem.run(
      { key: message.id, input: message.body }, // input is fingerprinted: the same id with other input throws
      ({ fence }) => chargeCard(message.body, fence), // also given: signal, which fires if the lease is lost
    );
    console.log("charged", receipt.chargeId);
    return "ack";
  } catch (error) {
    if (error instanceof ConflictError) return "retry-later"; // another consumer is on it right now
    if (error instanceof StoreUnavailableError) return "retry-later"; // the work did not run
    if (error instanceof MismatchError) return "ack"; // a different message reusing the id: a bug upstream
    throw error; // the work itself failed: the key was released, a redelivery runs it again
  }
}
// #endregion consumer

// #region execute
const message: QueueMessage = { id: "msg-42", body: { orderId: "o-1", amount: 10 } };
const { value, replayed } = await idem.execute({ key: message.id, input: message.body }, () =>
  chargeCard(message.body),
);

// #endregion execute
export { onMessage, replayed, value };
