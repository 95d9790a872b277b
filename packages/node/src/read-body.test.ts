import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { readBody } from "./read-body.js";

/** A server whose route reads the body with `readBody`, then reads it again the way `mode` says. */
async function serverReadingTwice(limit: number, mode: "data" | "iterate" | "pipe") {
  const server = createServer(async (req, res) => {
    const first = await readBody(req, limit);
    if (first === undefined) return void res.writeHead(413, { connection: "close" }).end("too large");
    await new Promise((resolve) => setTimeout(resolve, 10)); // the route reads later, on its own
    const again = await readAgain(req, mode);
    res.end(
      JSON.stringify({
        first: first.length,
        again: again.length,
        same: Buffer.compare(Buffer.from(first), again) === 0,
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function readAgain(req: IncomingMessage, mode: "data" | "iterate" | "pipe"): Promise<Buffer> {
  const chunks: Buffer[] = [];
  if (mode === "iterate") {
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }
  if (mode === "pipe") {
    const { PassThrough } = await import("node:stream");
    const sink = new PassThrough();
    sink.on("data", (chunk: Buffer) => chunks.push(chunk));
    const ended = new Promise((resolve) => sink.on("end", resolve));
    req.pipe(sink);
    await ended;
    return Buffer.concat(chunks);
  }
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  await new Promise((resolve) => req.on("end", resolve));
  return Buffer.concat(chunks);
}

const servers: { close(): void; closeAllConnections(): void }[] = [];
afterAll(() => {
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
});

const bytes = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => i % 251));
const chunked = (body: Buffer) =>
  new ReadableStream({
    start(controller) {
      for (let i = 0; i < body.length; i += 16_384) controller.enqueue(body.subarray(i, i + 16_384));
      controller.close();
    },
  });

describe("readBody: the whole body, without taking it from the route", () => {
  for (const mode of ["data", "iterate", "pipe"] as const) {
    for (const size of [1, 100_000, 900_000]) {
      for (const framing of ["content-length", "chunked"] as const) {
        it(`${size} bytes (${framing}), then read again with ${mode}`, async () => {
          const origin = await serverReadingTwice(1_000_000, mode);
          const body = bytes(size);
          const response = await fetch(origin, {
            method: "POST",
            body: framing === "chunked" ? chunked(body) : body,
            duplex: "half",
          } as RequestInit);
          expect(await response.json()).toEqual({ first: size, again: size, same: true });
        });
      }
    }
  }

  it("stops at the limit (chunked, unknown length) and resolves undefined; the server keeps serving", async () => {
    const origin = await serverReadingTwice(1000, "data");
    const response = await fetch(origin, {
      method: "POST",
      body: chunked(bytes(5_000_000)),
      duplex: "half",
    } as RequestInit).catch(
      () => undefined, // the server may close the connection before the client finished sending
    );
    if (response) expect(response.status).toBe(413);
    const small = await fetch(origin, { method: "POST", body: "ok" });
    expect(await small.json()).toEqual({ first: 2, again: 2, same: true });
  });

  it("does not read a body announced longer than the limit", async () => {
    const origin = await serverReadingTwice(1000, "data");
    const response = await fetch(origin, { method: "POST", body: bytes(2000) });
    expect(response.status).toBe(413);
  });

  it("an empty body is read without touching the stream (a later reader still sees end)", async () => {
    const origin = await serverReadingTwice(1000, "data");
    expect(await (await fetch(origin, { method: "POST" })).json()).toEqual({
      first: 0,
      again: 0,
      same: true,
    });
  });
});
