/**
 * The Fastify HTTP bench server: the same POST route plain, under the @idemkit/fastify plugin (in an
 * encapsulated context of its own, so it covers that route only) and with the `idemkit-run`
 * reference, all on the same Redis, all behind Fastify's own JSON parser. Prints `listening <port>`.
 */
import { idempotency } from "@idemkit/fastify";
import Fastify from "fastify";
import { cpuReading, createOrder, headerValue, idem, listen, type Order, runReference } from "./common.js";

const app = Fastify();

app.get("/__cpu", async () => cpuReading());

// A full collection on request (a server started with `--expose-gc`), as the Express server's.
app.get("/__gc", async () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  return { collected: gc !== undefined };
});

app.post<{ Body: Order }>("/plain", async (request) => createOrder(request.body));

// idemkit: the plugin registered in a child context, which holds only this route.
await app.register(async (scoped) => {
  await scoped.register(idempotency, { idempotency: idem, scope: "global" });
  scoped.post<{ Body: Order }>("/idemkit", async (request, reply) => {
    reply.code(201);
    return createOrder(request.body);
  });
});

// Reference: core's run() inside a plain route.
app.post<{ Body: Order }>("/idemkit-run", async (request, reply) => {
  const key = headerValue(request.headers["idempotency-key"]);
  const { status, body } = await runReference(key, request.method, request.url, request.body);
  reply.code(status);
  return body;
});

await app.ready();
listen(app.server, () => app.close());
