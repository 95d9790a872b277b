/**
 * The node:http bench server: a bare listener that reads the JSON body and answers, the same listener
 * under @idemkit/node's `idempotentListener`, and the `idemkit-run` reference in a bare listener, all
 * on the same Redis. Prints `listening <port>`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { idempotentListener } from "@idemkit/node";
import { cpuReading, createOrder, headerValue, idem, listen, type Order, runReference } from "./common.js";

async function readJson(req: IncomingMessage): Promise<Order> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString("utf8")) as Order;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

/**
 * Logs a route's failure, except a client gone before its answer (autocannon closes its sockets at the
 * end of a load: node:http then destroys every request still unanswered with `ECONNRESET`).
 */
const report = (error: unknown) => {
  if ((error as { code?: string }).code !== "ECONNRESET") console.error(error);
};

const plain = async (req: IncomingMessage, res: ServerResponse) => {
  sendJson(res, 201, createOrder(await readJson(req)));
};

// idemkit: the same listener under idempotentListener.
const idemkit = idempotentListener(idem, { scope: "global", onError: report }, plain);

// Reference: core's run() inside the bare listener.
const idemkitRun = async (req: IncomingMessage, res: ServerResponse) => {
  const key = headerValue(req.headers["idempotency-key"]);
  const { status, body } = await runReference(key, req.method ?? "", req.url ?? "", await readJson(req));
  sendJson(res, status, body);
};

const notFound = (_req: IncomingMessage, res: ServerResponse) => sendJson(res, 404, { error: "not found" });
const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => unknown> = {
  "GET /__cpu": (_req, res) => sendJson(res, 200, cpuReading()),
  "POST /plain": plain,
  "POST /idemkit": idemkit,
  "POST /idemkit-run": idemkitRun,
};

listen(
  createServer((req, res) => {
    const route = routes[`${req.method} ${req.url}`] ?? notFound;
    Promise.resolve(route(req, res)).catch((error: unknown) => {
      report(error);
      if (!res.headersSent) sendJson(res, 500, { error: (error as Error).message });
      else res.destroy();
    });
  }),
);
