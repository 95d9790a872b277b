import { randomUUID } from "node:crypto";
import { createServer, type ServerResponse } from "node:http";
import { Stream } from "node:stream";
import { createIdempotency, createMemoryStore } from "@idemkit/core";
import { idempotency as expressIdempotency } from "@idemkit/express";
import { idempotency as fastifyIdempotency } from "@idemkit/fastify";
import { idempotentListener } from "@idemkit/node";
import express from "express";
import Fastify from "fastify";
import { describe, expect, it } from "vitest";
import { loopback } from "./loopback.js";
import { type RawResponse, raw } from "./raw-http.js";

/**
 * Findings of a review of the capture's fast path (a response sent as it stands unless a header
 * changed since its snapshot) and of Fastify's reply reading, each over loopback sockets: the first
 * client must get exactly what was stored, which is what every replay gets.
 */

const servers = loopback();
const idem = () => createIdempotency({ store: createMemoryStore() });

async function firstAndReplay(port: number, target: string): Promise<[RawResponse, RawResponse]> {
  const key = randomUUID();
  const send = () =>
    raw(port, {
      method: "POST",
      target,
      headers: [
        ["Content-Type", "application/json"],
        ["Idempotency-Key", key],
      ],
      body: "{}",
    });
  const first = await send();
  return [first, await send()];
}

/** Status, body and headers but the ones that differ per answer by design. */
function seen(response: RawResponse) {
  const lines = response.lines.filter(
    ([name]) => !["date", "connection", "idempotent-replayed"].includes(name),
  );
  return { status: response.status, body: response.text(), lines };
}

/** A route that writes its body in pieces and, on `close`, changes its headers. */
function closeListenerRoute(res: ServerResponse): void {
  res.setHeader("content-type", "text/plain");
  res.on("close", () => {
    if (res.headersSent) return; // node's own close, after the response went out
    res.setHeader("x-on-close", "1");
    res.removeHeader("content-type");
  });
  res.write("a");
  void res.headersSent; // a logger checking whether it may still set headers
  res.end("b");
}

describe("a header changed by a close listener while the capture lets go of the response", () => {
  it("idempotentListener: the first client gets the stored headers, as the replay does", async () => {
    const origin = await servers.listen(
      createServer(idempotentListener(idem(), { scope: "global" }, (_req, res) => closeListenerRoute(res))),
    );
    const [first, replay] = await firstAndReplay(Number(new URL(origin).port), "/x");
    expect(seen(first)).toEqual(seen(replay));
    expect([first.header("content-type"), first.header("x-on-close"), first.text()]).toEqual([
      "text/plain",
      undefined,
      "ab",
    ]);
  });

  it("Express 5: the first client gets the stored headers, as the replay does", async () => {
    const app = express();
    app.use(expressIdempotency(idem(), { scope: "global" }));
    app.post("/x", (_req, res) => closeListenerRoute(res));
    const origin = await servers.listen(createServer(app));
    const [first, replay] = await firstAndReplay(Number(new URL(origin).port), "/x");
    expect(seen(first)).toEqual(seen(replay));
    expect(first.header("x-on-close")).toBeUndefined();
  });
});

describe("Fastify: a reply that is a stream Fastify pipes but not a node Readable (readable-stream, classic streams)", () => {
  it("is stored and replayed as the bytes it streamed", async () => {
    const app = Fastify();
    await app.register(fastifyIdempotency, { idempotency: idem(), scope: "global" });
    app.post("/stream", async (_request, reply) => {
      // A classic stream: it has pipe(), emits data and end, and is not a Readable.
      const stream = new Stream() as Stream & { readable: boolean };
      stream.readable = true;
      setImmediate(() => {
        stream.emit("data", Buffer.from("streamed "));
        stream.emit("data", Buffer.from("body"));
        stream.emit("end");
      });
      return reply.type("text/plain").send(stream);
    });
    await app.listen({ port: 0, host: "127.0.0.1" });
    servers.track(app);
    const port = (app.server.address() as { port: number }).port;
    const [first, replay] = await firstAndReplay(port, "/stream");
    expect([first.status, first.text()]).toEqual([200, "streamed body"]);
    expect([replay.status, replay.text(), replay.header("idempotent-replayed")]).toEqual([
      200,
      "streamed body",
      "true",
    ]);
  });
});
