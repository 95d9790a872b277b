import { once } from "node:events";
import { Readable } from "node:stream";
import { idempotency } from "@idemkit/koa";
import type { Context } from "koa";
import { describe, expect, it, vi } from "vitest";
import { headersOf, KOA_MAJORS, koaTarget } from "./koa-app.js";
import { loopback } from "./loopback.js";
import { exchange } from "./raw-http.js";

// What Koa writes: `ctx.body` as a string, Buffer, object or stream, written by Koa after the whole
// middleware chain and stored as the client got it; errors thrown into Koa's error handling; a client
// that goes away before Koa responds; a body stream that fails. Koa 3 and Koa 2, real sockets.
const servers = loopback();

for (const [major, make] of KOA_MAJORS) {
  describe(`@idemkit/koa on ${major}`, () => {
    const { idem, events, tag, serve } = koaTarget(servers, major, make);

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

    it("an option that throws after the route ran, with headers Koa's error handler refuses: a bare 500, the process carries on", async () => {
      const { post } = await serve((app) => {
        const policyBug = Object.assign(new Error("policy bug"), { headers: { "x-detail": "line\nbreak" } });
        const shouldStore = () => {
          throw policyBug;
        };
        app.use(idempotency(idem, { scope: "global", shouldStore }));
        app.use((ctx) => {
          ctx.status = 201;
          ctx.body = "made";
        });
      });
      const answered = await post("/orders", `policy-${tag}`);
      expect([answered.status, answered.text()]).toEqual([500, "Internal Server Error"]);
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

    it("a body stream that fails is reported to app.on('error') as often as Koa reports it without idemkit", async () => {
      const failingBody = (ctx: Context) => {
        ctx.status = 201;
        ctx.type = "text/plain";
        const early = ctx.path === "/early";
        let sent = false;
        ctx.body = new Readable({
          read() {
            if (early) return this.destroy(new Error("body broke"));
            if (sent) return;
            sent = true;
            this.push("partial ");
            setImmediate(() => this.destroy(new Error("body broke")));
          },
        });
      };
      const reportsOf = async (withIdempotency: boolean, path: string) => {
        const reported: unknown[] = [];
        const { port } = await serve((app) => {
          app.on("error", (error) => reported.push(error));
          if (withIdempotency) app.use(idempotency(idem, { scope: "global" }));
          app.use(failingBody);
        });
        const key = `reported-${tag}-${withIdempotency}${path.replace("/", "-")}`;
        await exchange(port, { method: "POST", target: path, headers: { "idempotency-key": key } });
        await vi.waitFor(() => expect(reported.length).toBeGreaterThan(0));
        await new Promise((resolve) => setTimeout(resolve, 100)); // a second report comes in this time
        return reported.length;
      };
      // Koa 2 alone leaves a body that fails after its first byte hanging: compared on the early failure.
      const koaAlone = await reportsOf(false, "/early");
      expect(await reportsOf(true, "/early")).toBe(koaAlone);
      expect(await reportsOf(true, "/late")).toBe(koaAlone);
    });
  });
}
