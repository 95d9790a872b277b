import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import { PassThrough } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { createIdempotency, createMemoryStore } from "@idemkit/core";
import { idempotency } from "@idemkit/express";
import compression from "compression";
import express from "express";
import { describe, expect, it } from "vitest";
import { loopback } from "./loopback.js";

const servers = loopback();

// compression's `res.write` reads `res.headersSent`; reading it once made the capture emit a `close`
// on the live response when it let the stream flow, and `pipe()` took that as the end: the client got
// nothing, not even the head (found by a hostile review of the NestJS package, `@Sse()`).
describe("Express: a streamed response (server-sent events) piped through compression", () => {
  it("flows to the client whole, and a retry is told it cannot be replayed (410)", async () => {
    const app = express();
    app.use(compression({ threshold: 0 }));
    app.use(idempotency(createIdempotency({ store: createMemoryStore() }), { scope: "global" }));
    let runs = 0;
    app.post("/events", (_req, res) => {
      runs++;
      res.writeHead(200, { "content-type": "text/event-stream" });
      const events = new PassThrough();
      events.pipe(res);
      void (async () => {
        for (const n of [1, 2, 3]) {
          events.write(`data: ${n}\n\n`);
          await sleep(20);
        }
        events.end();
      })();
    });
    const base = await servers.listen(createServer(app));
    const key = randomUUID();
    const send = () =>
      fetch(`${base}/events`, {
        method: "POST",
        headers: { "idempotency-key": key },
        signal: AbortSignal.timeout(5_000),
      });
    const first = await send();
    expect(first.status).toBe(200);
    expect(await first.text()).toBe("data: 1\n\ndata: 2\n\ndata: 3\n\n");
    const retry = await send();
    expect(retry.status).toBe(410);
    expect(runs).toBe(1);
  });
});
