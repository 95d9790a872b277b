import { createServer } from "node:http";
import { createMemoryStore, type IdempotentHandler } from "@idemkit/core";
import { idempotency } from "@idemkit/express";
import express, { type Request as ExpressRequest } from "express";
import { describeHttpBehaviour } from "./behaviour-suite.js";
import { loopback, sendTo } from "./loopback.js";

const servers = loopback();

/** An Express route that runs the suite's Web handler: the request in from Express, the answer out via `res`. */
function expressRoute(handler: IdempotentHandler): express.RequestHandler {
  return async (req, res, next) => {
    try {
      const response = await handler(
        webRequest(req),
        res.locals.idempotency ?? {
          key: undefined,
          fence: undefined,
          signal: new AbortController().signal,
        },
      );
      res.status(response.status);
      response.headers.forEach((value, name) => {
        if (name !== "set-cookie") res.setHeader(name, value);
      });
      const cookies = response.headers.getSetCookie();
      if (cookies.length > 0) res.setHeader("set-cookie", cookies);
      // A Web body streams out through res.write/res.end (res.send and res.json have their own tests).
      if (response.body === null) {
        res.end();
        return;
      }
      res.flushHeaders();
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) res.write(chunk);
      res.end();
    } catch (error) {
      next(error);
    }
  };
}

function webRequest(req: ExpressRequest): Request {
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2)
    headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
  const body =
    req.body === undefined
      ? undefined
      : Buffer.isBuffer(req.body)
        ? new Uint8Array(req.body)
        : JSON.stringify(req.body);
  const hasBody = req.method !== "GET" && req.method !== "HEAD";
  return new Request(`http://${req.get("host")}${req.originalUrl}`, {
    method: req.method,
    headers,
    body: hasBody ? body : undefined,
  });
}

describeHttpBehaviour({
  name: "Express middleware on the memory store",
  createStore: () => createMemoryStore(),
  mount: async (options, handler) => {
    const app = express();
    app.use(express.json()); // JSON bodies arrive parsed; any other body is read by the middleware
    app.use(idempotency(options));
    app.all("/{*path}", expressRoute(handler));
    app.use(((error, _req, res, next) => {
      if (res.headersSent)
        next(error); // Express then cuts the connection
      else res.status(500).json({ error: "handler crashed" });
    }) as express.ErrorRequestHandler);
    return sendTo(await servers.listen(createServer(app)));
  },
});
