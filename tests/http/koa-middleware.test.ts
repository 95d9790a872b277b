import { once } from "node:events";
import { createServer } from "node:http";
import { Readable } from "node:stream";
import { createIdempotency, createMemoryStore, type IdempotencyEvent } from "@idemkit/core";
import { type IdempotencyState, idempotency } from "@idemkit/koa";
import { bodyParser } from "@koa/bodyparser";
import Koa, { type Context } from "koa";
import Koa2 from "koa2";
import { describe, expect, it } from "vitest";
import { loopback } from "./loopback.js";
import { exchange, type RawResponse, raw } from "./raw-http.js";

// What is Koa's own: `ctx.body` as a string, Buffer, object or stream (written by Koa after the whole
// middleware chain), errors thrown into Koa's error handling, body parsers, a client that goes away
// before Koa responds. Koa 3 and Koa 2, real servers, real sockets.
const servers = loopback();

/** The state of the tests' apps: the middleware's, and the caller's account an earlier middleware sets. */
type State = IdempotencyState & { account?: string };

/** Headers of a response as the client saw them, without the ones that vary per response. */
function headersOf(response: RawResponse): [string, string][] {
  return response.lines.filter(
    ([name]) => !["date", "connection", "idempotent-replayed", "keep-alive"].includes(name),
  );
}

for (const [major, make] of [
  ["Koa 3", Koa],
  ["Koa 2", Koa2 as unknown as typeof Koa],
] as const) {
  describe(`@idemkit/koa on ${major}`, () => {
    const tag = major.replace(" ", ""); // keys are tokens: no spaces
    async function serve(setup: (app: Koa<State>) => void) {
      const app = new make<State>();
      app.silent = true;
      setup(app);
      const origin = await servers.listen(createServer(app.callback()));
      const port = Number(new URL(origin).port);
      const post = (target: string, key: string, body?: string, headers: Record<string, string> = {}) =>
        raw(port, {
          method: "POST",
          target,
          headers: {
            "idempotency-key": key,
            ...(body !== undefined && { "content-type": "application/json" }),
            ...headers,
          },
          body,
        });
      return { port, post };
    }

    const events: IdempotencyEvent[] = [];
    const idem = createIdempotency({ store: createMemoryStore(), onEvent: (e) => events.push(e) });

    it("stores and replays exactly what the client received, whatever ctx.body was: string, Buffer, object, stream", async () => {
      let runs = 0;
      const { post } = await serve((app) => {
        app.use(idempotency(idem, { scope: "global" }));
        app.use((ctx) => {
          runs++;
          ctx.status = 201;
          ctx.set("x-run", String(runs));
          if (ctx.path === "/string") ctx.body = `<p>run ${runs}</p>`;
          else if (ctx.path === "/buffer") ctx.body = Buffer.from([0, 1, 2, 255, runs]);
          else if (ctx.path === "/object") ctx.body = { run: runs, fence: ctx.state.idempotency?.fence };
          else ctx.body = Readable.from([Buffer.from("streamed "), Buffer.from(`run ${runs}`)]);
        });
      });
      for (const [path, type] of [
        ["/string", "text/html; charset=utf-8"],
        ["/buffer", "application/octet-stream"],
        ["/object", "application/json; charset=utf-8"],
        ["/stream", "application/octet-stream"],
      ] as const) {
        const key = `body-${tag}${path.replace("/", "-")}`;
        const first = await post(path, key);
        const replay = await post(path, key);
        expect(first.status).toBe(201);
        expect(first.header("content-type")).toBe(type);
        // Held whole and sent with its length, a stream too: the replay is the same response.
        expect(first.chunked).toBe(false);
        expect(Number(first.header("content-length"))).toBe(first.body.length);
        expect(replay.header("idempotent-replayed")).toBe("true");
        expect(replay.status).toBe(first.status);
        expect(headersOf(replay)).toEqual(headersOf(first));
        expect(replay.body).toEqual(first.body);
      }
      expect(runs).toBe(4);
    });

    it("a thrown error is answered by Koa as usual and releases the key: a retry runs again", async () => {
      let runs = 0;
      const { post } = await serve((app) => {
        app.use(idempotency(idem, { scope: "global" }));
        app.use((ctx) => {
          runs++;
          if (ctx.path === "/forbidden" && runs === 1) ctx.throw(403, "not yet");
          if (ctx.path === "/crash" && runs === 3) throw new Error("handler crashed");
          ctx.status = 201;
          ctx.body = `run ${runs}`;
        });
      });
      const refused = await post("/forbidden", `throw-${tag}`);
      expect([refused.status, refused.text()]).toEqual([403, "not yet"]);
      expect((await post("/forbidden", `throw-${tag}`)).text()).toBe("run 2");
      const crashed = await post("/crash", `crash-${tag}`);
      expect([crashed.status, crashed.text()]).toEqual([500, "Internal Server Error"]);
      expect((await post("/crash", `crash-${tag}`)).text()).toBe("run 4");
    });

    it("after @koa/bodyparser: the parsed body is fingerprinted canonically (JSON and forms); after idemkit it still reads the body", async () => {
      let runs = 0;
      const { post } = await serve((app) => {
        app.use(async (ctx, next) => {
          // /late: idemkit first, the parser after it (it reads the body idemkit put back)
          if (ctx.path !== "/late") return bodyParser()(ctx, next);
          await next();
        });
        app.use(idempotency(idem, { scope: "global" }));
        app.use(async (ctx, next) => {
          if (ctx.path === "/late") return bodyParser()(ctx, next);
          await next();
        });
        app.use((ctx) => {
          ctx.status = 201;
          ctx.body = { run: ++runs, got: ctx.request.body };
        });
      });
      const key = `parsed-${tag}`;
      const first = await post("/orders", key, JSON.stringify({ item: "book", qty: 1 }));
      expect(first.json()).toEqual({ run: 1, got: { item: "book", qty: 1 } });
      const reordered = await post("/orders", key, JSON.stringify({ qty: 1, item: "book" }));
      expect(reordered.header("idempotent-replayed")).toBe("true");
      expect((await post("/orders", key, JSON.stringify({ item: "pen", qty: 1 }))).status).toBe(422);
      const form = (body: string) =>
        post("/forms", `form-${tag}`, body, { "content-type": "application/x-www-form-urlencoded" });
      expect((await form("a=1&b=2")).status).toBe(201);
      expect((await form("b=2&a=1")).header("idempotent-replayed")).toBe("true");
      const late = await post("/late", `late-${tag}`, JSON.stringify({ item: "late" }));
      expect(late.json()).toEqual({ run: 3, got: { item: "late" } });
      expect(runs).toBe(3);
    });

    it("uploads a parser left in ctx.request.file(s) are part of the request: another file under the same key is 422", async () => {
      let runs = 0;
      const { post } = await serve((app) => {
        // What @koa/multer's memory storage leaves: the fields in ctx.request.body, the file with its bytes.
        app.use(async (ctx, next) => {
          const chunks: Buffer[] = [];
          for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
          const [title, content = ""] = Buffer.concat(chunks).toString().split("|");
          const buffer = Buffer.from(content);
          const file = {
            fieldname: "doc",
            originalname: "a.txt",
            mimetype: "text/plain",
            size: buffer.length,
            buffer,
          };
          Object.assign(ctx.request, { body: { title }, file, files: { doc: [file] } });
          await next();
        });
        app.use(idempotency(idem, { scope: "global" }));
        app.use((ctx) => {
          ctx.status = 201;
          ctx.body = { run: ++runs };
        });
      });
      const upload = (content: string) => post("/upload", `upload-${tag}`, `report|${content}`);
      expect((await upload("first version")).json()).toEqual({ run: 1 });
      expect((await upload("first version")).header("idempotent-replayed")).toBe("true");
      expect((await upload("other version")).status).toBe(422);
      expect(runs).toBe(1);
    });

    it("a client that goes away before Koa responds: the route's whole outcome is stored, and the retry replays it", async () => {
      let runs = 0;
      const completed = () => events.filter((e) => e.type === "completed").length;
      const { port, post } = await serve((app) => {
        app.use(idempotency(idem, { scope: "global" }));
        app.use(async (ctx) => {
          runs++;
          if (!ctx.req.socket.destroyed) await once(ctx.req.socket, "close"); // the client is gone
          ctx.status = 201;
          ctx.body = { run: runs, note: "made after the client left" };
        });
      });
      const before = completed();
      const gone = await exchange(
        port,
        { method: "POST", target: "/orders", headers: { "idempotency-key": `gone-${tag}` } },
        { disconnectAfterMs: 20 },
      );
      expect(gone.response).toBeUndefined();
      for (let waited = 0; completed() === before && waited < 2_000; waited++) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const retry = await post("/orders", `gone-${tag}`);
      expect(retry.header("idempotent-replayed")).toBe("true");
      expect(retry.status).toBe(201);
      expect(retry.json()).toEqual({ run: 1, note: "made after the client left" });
      expect(runs).toBe(1);
    });

    it("a body stream that fails: the connection is cut and the key held (410), even before its first byte", async () => {
      let runs = 0;
      const { post, port } = await serve((app) => {
        app.use(idempotency(idem, { scope: "global" }));
        app.use((ctx) => {
          runs++;
          ctx.status = 201;
          ctx.type = "text/plain";
          const early = ctx.path === "/early";
          ctx.body = new Readable({
            read() {
              if (!early && this.readableLength === 0 && !(this as { sent?: boolean }).sent) {
                (this as { sent?: boolean }).sent = true;
                this.push("partial ");
                setImmediate(() => this.destroy(new Error("body broke")));
              } else if (early) this.destroy(new Error("body broke"));
            },
          });
        });
      });
      for (const path of ["/late", "/early"]) {
        const key = `broken-${tag}${path.replace("/", "-")}`;
        const cut = await exchange(port, {
          method: "POST",
          target: path,
          headers: { "idempotency-key": key },
        });
        expect(
          cut.response === undefined || cut.response.status !== 201 || cut.response.body.length === 0,
        ).toBe(true);
        const retry = await post(path, key);
        expect(retry.status).toBe(410);
        expect(retry.json()).toMatchObject({ originalStatus: 201 });
      }
      expect(runs).toBe(2);
    });

    it("scope and the route read the Koa context; headers set before idemkit are not stored; mounted twice, handled once", async () => {
      let runs = 0;
      let requests = 0;
      const { post } = await serve((app) => {
        app.use(async (ctx, next) => {
          ctx.state.account = ctx.get("x-account") || undefined;
          ctx.set("x-request-id", String(++requests));
          await next();
        });
        const mw = idempotency(idem, { scope: (ctx: Context) => ctx.state.account });
        app.use(mw);
        app.use(mw);
        app.use((ctx) => {
          const { key, fence } = ctx.state.idempotency ?? {};
          ctx.status = 201;
          ctx.body = { run: ++runs, key, fence };
        });
      });
      const as = (account: string) => post("/orders", `ctx-${tag}`, undefined, { "x-account": account });
      const first = await as("a");
      expect(first.json()).toEqual({ run: 1, key: `ctx-${tag}`, fence: 1 });
      expect(first.header("x-request-id")).toBe("1");
      const replay = await as("a");
      expect(replay.json()).toEqual({ run: 1, key: `ctx-${tag}`, fence: 1 });
      expect(replay.header("x-request-id")).toBe("2");
      expect((await as("b")).json()).toMatchObject({ run: 2 });
      expect((await as("")).status).toBe(400);
      expect(runs).toBe(2);
    });
  });
}
