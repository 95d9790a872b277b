import type { Server } from "node:http";
import { createAdaptorServer } from "@hono/node-server";
import { createIdempotency, createMemoryStore } from "@idemkit/core";
import { idempotency } from "@idemkit/hono";
import { Hono } from "hono";
import { streamText } from "hono/streaming";
import { describe, expect, it } from "vitest";
import { loopback } from "./loopback.js";

// Hono's streamText() sets `Transfer-Encoding: chunked` on the route's Response. idemkit stores the
// body whole and sends it with its Content-Length: the first answer must not carry both (RFC 9112
// forbids it, and undici refuses such a response), exactly as a replay does not.
const servers = loopback();

describe("@idemkit/hono: a route answering with streamText()", () => {
  it("the first answer is valid HTTP/1.1: stored whole, sent with Content-Length only, replayed the same", async () => {
    const app = new Hono();
    app.use(idempotency(createIdempotency({ store: createMemoryStore() }), { scope: "global" }));
    let runs = 0;
    app.post("/report", (c) =>
      streamText(c, async (stream) => {
        runs++;
        await stream.write("line 1\n");
        await stream.write("line 2\n");
      }),
    );
    const origin = await servers.listen(createAdaptorServer({ fetch: app.fetch }) as Server);
    const send = () => fetch(`${origin}/report`, { method: "POST", headers: { "idempotency-key": "r-1" } });

    const first = await send();
    expect(first.status).toBe(200);
    expect(first.headers.get("transfer-encoding")).toBeNull();
    expect(first.headers.get("content-length")).toBe("14");
    expect(await first.text()).toBe("line 1\nline 2\n");

    const replay = await send();
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(await replay.text()).toBe("line 1\nline 2\n");
    expect(runs).toBe(1);
  });
});
