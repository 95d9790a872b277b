import { createServer } from "node:http";
import { createMemoryStore } from "@idemkit/core";
import { idempotency } from "@idemkit/express";
import express from "express";
import express4 from "express4";
import { describeHttpBehaviour } from "./behaviour-suite.js";
import { loopback, sendTo } from "./loopback.js";
import { nodeRoute, nodeScope } from "./web-route.js";

const servers = loopback();

// Express 5 and Express 4 run the same suite: the suite's Web handler behind a native route.
for (const [name, make, catchAll] of [
  ["Express 5", express, "/{*path}"],
  ["Express 4", express4 as unknown as typeof express, "*"],
] as const) {
  describeHttpBehaviour({
    name: `${name} middleware on the memory store`,
    createStore: () => createMemoryStore(),
    mount: async (options, handler) => {
      const app = make();
      app.use(make.json()); // JSON bodies arrive parsed; any other body is read by the middleware
      const { scope, fingerprint: _unused, ...rest } = options;
      app.use(idempotency(rest, { scope: nodeScope(scope) }));
      const route = nodeRoute(handler, (_req, res) => (res as express.Response).locals.idempotency);
      app.all(catchAll, (req, res, next) => {
        route(req, res).catch(next);
      });
      app.use(((error, _req, res, next) => {
        if (res.headersSent)
          next(error); // Express then cuts the connection
        else res.status(500).json({ error: "handler crashed" });
      }) as express.ErrorRequestHandler);
      return sendTo(await servers.listen(createServer(app)));
    },
  });
}
