import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import { Readable } from "node:stream";
import { createIdempotency, createMemoryStore } from "@idemkit/core";
import { idempotency } from "@idemkit/express";
import express from "express";
import { describe, expect, it } from "vitest";
import { loopback } from "./loopback.js";

const servers = loopback();

/** An app whose routes write their answers in every way Express offers, each counting its runs. */
async function app() {
  const runs: Record<string, number> = {};
  const count = (name: string) => {
    runs[name] = (runs[name] ?? 0) + 1;
    return runs[name];
  };
  const idem = createIdempotency({ store: createMemoryStore() });
  const app = express();
  app.use(express.json());
  // Per route, with options of its own (mounted before the app-wide middleware, so it handles them).
  app.post("/tenant", idempotency(idem, { scope: (req) => String(req.headers["x-tenant"]) }), (_req, res) => {
    res.json({ run: count("tenant") });
  });
  app.use(idempotency(idem, { scope: "global" }));
  app.post("/json", (req, res) => {
    res.status(201).json({ run: count("json"), got: req.body, fence: res.locals.idempotency?.fence });
  });
  app.post("/send", (_req, res) => {
    res
      .set("x-custom", "kept")
      .cookie("session", "secret")
      .send(`<p>run ${count("send")}</p>`);
  });
  app.post("/chunks", (_req, res) => {
    const run = count("chunks");
    res.writeHead(202, { "content-type": "text/plain" });
    res.write("a");
    setTimeout(() => {
      res.write(Buffer.from("b"));
      res.end(`c${run}`);
    }, 20);
  });
  app.post("/pipe", (_req, res) => {
    const run = count("pipe");
    res.type("application/octet-stream");
    Readable.from([Buffer.alloc(40_000, 1), Buffer.alloc(40_000, 2), Buffer.from([run])]).pipe(res);
  });
  app.post("/error-after-reply", (_req, res, next) => {
    res.status(201).json({ run: count("error-after-reply") });
    next(new Error("a bug after the reply"));
  });
  // `res.end(text, encoding)` as the request body says; `late` sets a header after the end (the response then
  // goes out whole from what was captured, not as it stands).
  app.post("/text", (req, res) => {
    count("text");
    const { text, encoding, late } = req.body as { text: string; encoding?: BufferEncoding; late?: boolean };
    res.status(200).type("text/plain");
    res.end(text, encoding as BufferEncoding);
    if (late) res.setHeader("x-late", "1");
  });
  app.post("/raw", async (req, res) => {
    count("raw");
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    res.json({ body: req.body ?? null, text: Buffer.concat(chunks).toString() });
  });
  const origin = await servers.listen(createServer(app));
  const post = (path: string, key: string, init: RequestInit = {}) =>
    fetch(`${origin}${path}`, {
      method: "POST",
      ...init,
      headers: { "idempotency-key": key, "content-type": "application/json", ...init.headers },
      body: init.body ?? JSON.stringify({ n: 1 }),
    });
  return { runs, post };
}

describe("Express: responses however the route writes them", () => {
  it("res.json: stored before the client sees it, so an immediate retry replays (never 409)", async () => {
    const { runs, post } = await app();
    const key = randomUUID();
    const first = await post("/json", key);
    const retry = await post("/json", key); // sent the instant the first answer arrived
    expect(first.status).toBe(201);
    expect(retry.status).toBe(201);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(await retry.json()).toEqual(await first.json());
    expect(runs.json).toBe(1);
  });

  it("res.send with headers and a cookie: the cookie goes to the first client only", async () => {
    const { runs, post } = await app();
    const key = randomUUID();
    const first = await post("/send", key);
    expect(first.headers.get("set-cookie")).toContain("session=secret");
    const retry = await post("/send", key);
    expect(await retry.text()).toBe("<p>run 1</p>");
    expect(retry.headers.get("x-custom")).toBe("kept");
    expect(retry.headers.get("content-type")).toContain("text/html");
    expect(retry.headers.get("set-cookie")).toBeNull();
    expect(runs.send).toBe(1);
  });

  it("writeHead + write + end over time", async () => {
    const { runs, post } = await app();
    const key = randomUUID();
    const first = await post("/chunks", key);
    expect([first.status, await first.text()]).toEqual([202, "abc1"]);
    const retry = await post("/chunks", key);
    expect([retry.status, await retry.text()]).toEqual([202, "abc1"]);
    expect(runs.chunks).toBe(1);
  });

  it("a stream piped into res, with backpressure", async () => {
    const { runs, post } = await app();
    const key = randomUUID();
    const first = new Uint8Array(await (await post("/pipe", key)).arrayBuffer());
    const retry = new Uint8Array(await (await post("/pipe", key)).arrayBuffer());
    expect(first.length).toBe(80_001);
    expect(retry).toEqual(first);
    expect(runs.pipe).toBe(1);
  });

  it("an error after the route replied: the first client still gets that reply, retries replay it", async () => {
    const { runs, post } = await app();
    const key = randomUUID();
    const first = await post("/error-after-reply", key);
    expect([first.status, first.headers.get("content-type"), await first.json()]).toEqual([
      201,
      "application/json; charset=utf-8",
      { run: 1 },
    ]);
    const retry = await post("/error-after-reply", key);
    expect([retry.status, await retry.json()]).toEqual([201, { run: 1 }]);
    expect(runs["error-after-reply"]).toBe(1);
  });

  it("a body no parser read is fingerprinted from its bytes and left readable for the route", async () => {
    const { runs, post } = await app();
    const key = randomUUID();
    const init = { headers: { "content-type": "text/plain" }, body: "hello" };
    expect(await (await post("/raw", key, init)).json()).toEqual({ body: null, text: "hello" });
    const mismatch = await post("/raw", key, { ...init, body: "other" });
    expect(mismatch.status).toBe(422);
    expect(runs.raw).toBe(1);
  });

  // Text the route ends with is stored as the bytes node:http sends for it: UTF-8 (lone surrogates as
  // U+FFFD) unless another encoding is named. First answer and replay, sent as it stands or whole.
  it.each([
    ["UTF-8 beyond ASCII", "h\u00e9llo \u{1f600} \u65e5\u672c", undefined],
    ["UTF-8 named", "h\u00e9llo \u{1f600}", "utf-8"],
    ["a lone surrogate", "a\ud800b", undefined],
    ["latin1", "caf\u00e9", "latin1"],
    ["hex", "68c3a96c6c6f", "hex"],
  ] as const)(
    "res.end(text) with %s: the bytes node:http sends, first and on replay",
    async (_label, text, encoding) => {
      const { runs, post } = await app();
      const bytes = Buffer.from(text, encoding ?? "utf8");
      for (const late of [false, true]) {
        const key = randomUUID();
        const body = JSON.stringify({ text, encoding, late });
        for (const replayed of [null, "true"]) {
          const answer = await post("/text", key, { body });
          expect(answer.headers.get("idempotent-replayed")).toBe(replayed);
          expect(answer.headers.get("content-length")).toBe(String(bytes.length));
          // A header set after the end is not sent: the answer went out whole from what was captured.
          expect(answer.headers.get("x-late")).toBeNull();
          expect(Buffer.from(await answer.arrayBuffer())).toEqual(bytes);
        }
      }
      expect(runs.text).toBe(2);
    },
  );

  it("per-route options: scope from the Express request", async () => {
    const { runs, post } = await app();
    const key = randomUUID();
    const as = (tenant: string) => post("/tenant", key, { headers: { "x-tenant": tenant } });
    expect(await (await as("a")).json()).toEqual({ run: 1 });
    expect(await (await as("b")).json()).toEqual({ run: 2 });
    expect((await as("a")).headers.get("idempotent-replayed")).toBe("true");
    expect(runs.tenant).toBe(2);
  });
});
