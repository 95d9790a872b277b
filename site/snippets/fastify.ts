// #region app
import { createMemoryStore } from "@idemkit/core";
import { idempotency } from "@idemkit/fastify";
import Fastify from "fastify";
import { accountIdOf, createOrder } from "./your-app.js";

const app = Fastify();
await app.register(idempotency, {
  store: createMemoryStore(), // or { idempotency: existingInstance }
  scope: (request) => accountIdOf(request), // whose key it is: never shared across accounts
});

app.post("/orders", async (request, reply) => {
  const { fence, signal } = request.idempotency!; // key, fence and lease signal of this claim
  return reply.code(201).send(await createOrder(request.body, { fence, signal }));
});

// Per route: any core HTTP option, or `false` to leave the route out.
app.post("/payments", { config: { idempotency: { maxResponseBytes: 64 * 1024 } } }, async () => ({
  paid: true,
}));
app.post("/webhooks", { config: { idempotency: false } }, async () => ({ received: true }));

await app.listen({ port: 3000 });
// #endregion app
