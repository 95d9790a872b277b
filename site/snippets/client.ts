// #region fetch
import { idempotencyOf, idempotentFetch, withIdempotency } from "@idemkit/client";

const response = await idempotentFetch("https://api.example.com/orders", {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ item: "book" }),
});
const order = await response.json();
idempotencyOf(response); // { key: "…", replayed: true, attempts: 2 } when the first answer was lost

// Or wrap a fetch: every POST and PATCH becomes one idempotent operation with its own key.
const api = withIdempotency(fetch, { retries: 3 });
await api("https://api.example.com/orders", { method: "POST", body: JSON.stringify({ item: "pen" }) });
// #endregion fetch

// #region key
// A key that must survive your own process: store it with the operation before the first attempt.
declare function saveOperation(operation: { id: string; item: string }): Promise<void>;
const operation = { id: crypto.randomUUID(), item: "lamp" };
await saveOperation(operation); // after a crash, the retry reads it back and reuses the id
await idempotentFetch(
  "https://api.example.com/orders",
  { method: "POST", body: JSON.stringify({ item: operation.item }) },
  { key: operation.id, retries: 6, attemptTimeoutMs: 10_000 },
);

// #endregion key
export { order };
