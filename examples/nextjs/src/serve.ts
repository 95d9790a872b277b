/**
 * Serves app/orders/route.ts on node:http (through @idemkit/node) without installing Next.js, so the
 * example runs with one command. In a Next app, Next does this routing itself.
 */
import { createServer } from "node:http";
import { createRequestListener } from "@idemkit/node";
import * as route from "../app/orders/route.js";

const port = Number(process.env.PORT ?? 3000);
const handlers: Record<string, (request: Request) => Promise<Response>> = {
  GET: route.GET,
  POST: route.POST,
};

const server = createServer(
  createRequestListener(async (request) => {
    if (new URL(request.url).pathname !== "/orders")
      return Response.json({ error: "not found" }, { status: 404 });
    const handler = handlers[request.method];
    return handler ? handler(request) : new Response(null, { status: 405, headers: { allow: "GET, POST" } });
  }),
);
server.listen(port, "127.0.0.1", () => {
  console.log(`Next.js route handler + idemkit on http://127.0.0.1:${port}/orders`);
  console.log(
    `  curl -i -X POST http://127.0.0.1:${port}/orders -H 'content-type: application/json' -H 'Idempotency-Key: "k1"' -d '{"item":"book","quantity":1}'`,
  );
});
