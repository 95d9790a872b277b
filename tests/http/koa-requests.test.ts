import { idempotency } from "@idemkit/koa";
import { bodyParser } from "@koa/bodyparser";
import type { Context } from "koa";
import { describe, expect, it } from "vitest";
import { KOA_MAJORS, koaTarget } from "./koa-app.js";
import { loopback } from "./loopback.js";

// What Koa's requests bring: bodies a parser read (@koa/bodyparser, uploads), the context `scope` and the
// route read, headers earlier middleware set, a double mount. Koa 3 and Koa 2, real sockets.
const servers = loopback();

for (const [major, make] of KOA_MAJORS) {
  describe(`@idemkit/koa on ${major}`, () => {
    const { idem, tag, serve } = koaTarget(servers, major, make);

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
