// #region listener
import { createServer } from "node:http";
import { createIdempotency, createMemoryStore } from "@idemkit/core";
import { idempotentListener } from "@idemkit/node";
import { accountIdOf } from "./your-app.js";

const idem = createIdempotency({ store: createMemoryStore() });

createServer(
  idempotentListener(idem, { scope: (req) => accountIdOf(req) }, (_req, res, context) => {
    // context: { key, fence, signal } when this process runs the key; undefined on pass-through
    res.writeHead(201, { "content-type": "application/json" });
    res.end(JSON.stringify({ id: crypto.randomUUID(), fence: context?.fence }));
  }),
).listen(3000);

// #endregion listener

// #region connect
import { idempotency, idempotencyContext } from "@idemkit/node";

// Connect-style (req, res, next) middleware, for stacks built on it:
const middleware = idempotency(idem, { scope: (req) => accountIdOf(req) });
createServer((req, res) => {
  middleware(req, res, (error) => {
    if (error) {
      res.writeHead(500).end(); // the route's error path: a throwing scope, a body another reader took
      return;
    }
    const context = idempotencyContext(req); // { key, fence, signal } or undefined
    res.writeHead(201, { "content-type": "application/json" });
    res.end(JSON.stringify({ fence: context?.fence }));
  });
}).listen(3001);

// #endregion connect

// #region web
import { createRequestListener } from "@idemkit/node";

// A Web fetch handler on node:http: Request in, Response out.
const web = createIdempotency({ store: createMemoryStore(), scope: (request) => accountIdOf(request) });
createServer(
  createRequestListener(
    web.wrap(async (request, { fence }) =>
      Response.json({ fence, ...(await request.json()) }, { status: 201 }),
    ),
  ),
).listen(3002);
// #endregion web
