import { randomUUID } from "node:crypto";
import type {
  IdempotencyEvent,
  IdempotencyOptions,
  IdempotencyStore,
  IdempotentHandler,
} from "@idemkit/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/** Sends a Web `Request` through one integration and returns its `Response`. */
export type Send = (request: Request) => Promise<Response>;

export interface HttpBehaviourTarget {
  name: string;
  createStore: () => IdempotencyStore | Promise<IdempotencyStore>;
  closeStore?: (store: IdempotencyStore) => void | Promise<void>;
  /**
   * Mounts `handler` behind idemkit with `options` in the integration under test and returns a
   * way to send it requests. The Web handler mounts it directly; framework integrations start a
   * server on loopback.
   */
  mount: (options: IdempotencyOptions, handler: IdempotentHandler) => Send | Promise<Send>;
  /**
   * Why this integration has no streamed responses (a platform that sends every response whole, as
   * AWS Lambda's buffered invocations do): the streaming rows are then skipped, the reason in their title.
   */
  noStreaming?: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const BASE = "http://idemkit.test";

/** Every row of the HTTP behaviour table (docs/design.md), through one integration. */
export function describeHttpBehaviour(target: HttpBehaviourTarget): void {
  describe(`HTTP behaviour: ${target.name}`, () => {
    let store: IdempotencyStore;
    beforeAll(async () => {
      store = await target.createStore();
    });
    afterAll(async () => {
      await target.closeStore?.(store);
    });

    /** A counting orders handler: each execution creates a new order id. */
    function ordersApp(options: Partial<IdempotencyOptions> = {}) {
      const state = { runs: 0, events: [] as IdempotencyEvent[] };
      const handler: IdempotentHandler = async (request, context) => {
        state.runs++;
        const body = request.headers.get("content-type")?.includes("json") ? await request.json() : null;
        return Response.json(
          { id: `ord_${state.runs}`, body, fence: context.fence },
          { status: 201, headers: { "x-order": String(state.runs) } },
        );
      };
      const mounted = target.mount(
        {
          store,
          keyPrefix: `http-${randomUUID()}:`,
          scope: "global",
          ...options,
          onEvent: (e) => state.events.push(e),
        },
        handler,
      );
      return { state, send: async (request: Request) => (await mounted)(request) };
    }

    function mountWith(options: Partial<IdempotencyOptions>, handler: IdempotentHandler) {
      const events: IdempotencyEvent[] = [];
      const mounted = target.mount(
        {
          store,
          keyPrefix: `http-${randomUUID()}:`,
          scope: "global",
          ...options,
          onEvent: (e) => events.push(e),
        },
        handler,
      );
      // `ready`: for a test whose timeline must start once the target listens (a Nest app takes ~100 ms).
      const ready = Promise.resolve(mounted).then(
        () => {},
        () => {}, // a mount that failed fails the test at its first send
      );
      return { events, ready, send: async (request: Request) => (await mounted)(request) };
    }

    /** Waits until the first request claimed `storedKey` (a slow target may take longer than a sleep). */
    async function untilClaimed(storedKey: string) {
      const deadline = performance.now() + 5_000;
      while ((await store.get(storedKey)) === undefined) {
        if (performance.now() > deadline) throw new Error(`${storedKey} was never claimed`);
        await sleep(5);
      }
    }

    const post = (key: string | null, body: unknown = { item: "book", qty: 1 }, init: RequestInit = {}) => {
      const headers = new Headers(init.headers);
      headers.set("content-type", "application/json");
      if (key !== null) headers.set("idempotency-key", key);
      return new Request(`${BASE}/orders`, { method: "POST", body: JSON.stringify(body), ...init, headers });
    };
    const newKey = () => `"${randomUUID()}"`;

    async function expectProblem(response: Response, status: number, type: string) {
      expect(response.status).toBe(status);
      expect(response.headers.get("content-type")).toBe("application/problem+json");
      const problem = await response.json();
      expect(problem).toMatchObject({ status, type: `urn:idemkit:problem:${type}` });
      expect(typeof problem.title).toBe("string");
      expect(typeof problem.detail).toBe("string");
      return problem;
    }

    describe("the key header", () => {
      it("accepts an RFC 8941 sf-string and a bare token as the same key", async () => {
        const app = ordersApp();
        const key = randomUUID();
        const first = await app.send(post(`"${key}"`));
        const second = await app.send(post(key));
        expect(first.status).toBe(201);
        expect(second.headers.get("idempotent-replayed")).toBe("true");
        expect(app.state.runs).toBe(1);
      });

      it("reads a custom header name", async () => {
        const app = ordersApp({ header: "X-Request-Key" });
        const request = post(null, undefined, { headers: { "x-request-key": newKey() } });
        expect((await app.send(request)).status).toBe(201);
        await expectProblem(await app.send(post(newKey())), 400, "key-missing");
      });

      it("answers 400 when the key is missing, without running the handler", async () => {
        const app = ordersApp();
        await expectProblem(await app.send(post(null)), 400, "key-missing");
        expect(app.state.runs).toBe(0);
      });

      it("counts requests answered before any claim: a finished event, rejected, with the reason and status", async () => {
        const app = ordersApp({ maxRequestBytes: 64 });
        await app.send(post(null));
        await app.send(post('"a", "b"'));
        await app.send(post(newKey(), { blob: "x".repeat(100) }));
        const rejected = app.state.events.flatMap((e) =>
          e.type === "finished" && e.outcome === "rejected" ? [e] : [],
        );
        expect(rejected.map((e) => [e.reason, e.http?.status])).toEqual([
          ["key-missing", 400],
          ["key-invalid", 400],
          ["request-too-large", 413],
        ]);
        expect(app.state.runs).toBe(0);
      });

      it("lets a request without a key pass through when required is false", async () => {
        const app = ordersApp({ required: false });
        expect((await app.send(post(null))).status).toBe(201);
        expect((await app.send(post(null))).status).toBe(201);
        expect(app.state.runs).toBe(2);
      });

      it.each([
        ["empty", '""'],
        ["too long", `"${"k".repeat(256)}"`],
        ["a control character", '"a\tb"'],
        ["non-ASCII", '"caf\u00e9"'],
        ["bad quoting", '"unterminated'],
        ["bad escape", '"a\\nb"'],
      ])("answers 400 for an invalid key (%s), without running the handler", async (_label, key) => {
        const app = ordersApp();
        await expectProblem(await app.send(post(key)), 400, "key-invalid");
        expect(app.state.runs).toBe(0);
      });
    });

    describe("methods", () => {
      it("passes GET and other uncovered methods through untouched, key or not", async () => {
        const app = ordersApp();
        const key = newKey();
        for (const method of ["GET", "PUT", "DELETE"]) {
          const r1 = await app.send(
            new Request(`${BASE}/orders`, { method, headers: { "idempotency-key": key } }),
          );
          expect(r1.status).toBe(201);
          expect(r1.headers.get("idempotent-replayed")).toBeNull();
        }
        expect(app.state.runs).toBe(3);
      });

      it("covers PATCH by default and other methods when configured", async () => {
        const app = ordersApp({ methods: ["PUT"] });
        const key = newKey();
        const put = () =>
          new Request(`${BASE}/orders/1`, { method: "PUT", headers: { "idempotency-key": key }, body: "x" });
        await app.send(put());
        const replay = await app.send(put());
        expect(replay.headers.get("idempotent-replayed")).toBe("true");
        expect(app.state.runs).toBe(1);

        const patchApp = ordersApp();
        const patchKey = newKey();
        const patch = () =>
          new Request(`${BASE}/orders/1`, {
            method: "PATCH",
            headers: { "idempotency-key": patchKey },
            body: "y",
          });
        await patchApp.send(patch());
        expect((await patchApp.send(patch())).headers.get("idempotent-replayed")).toBe("true");
        expect(patchApp.state.runs).toBe(1);
      });
    });

    describe("replay", () => {
      it("replays the original status, body and headers with Idempotent-Replayed: true", async () => {
        const app = ordersApp();
        const key = newKey();
        const first = await app.send(post(key));
        expect(first.status).toBe(201);
        expect(first.headers.get("idempotent-replayed")).toBeNull();
        const firstBody = await first.text();
        for (let i = 0; i < 3; i++) {
          const again = await app.send(post(key));
          expect(again.status).toBe(201);
          expect(again.headers.get("idempotent-replayed")).toBe("true");
          expect(again.headers.get("x-order")).toBe("1");
          expect(again.headers.get("content-type")).toBe(first.headers.get("content-type"));
          expect(await again.text()).toBe(firstBody);
        }
        expect(app.state.runs).toBe(1);
      });

      it("treats JSON bodies with another key order as the same request", async () => {
        const app = ordersApp();
        const key = newKey();
        await app.send(post(key, { a: 1, b: { c: 2, d: 3 } }));
        const again = await app.send(post(key, { b: { d: 3, c: 2 }, a: 1 }));
        expect(again.headers.get("idempotent-replayed")).toBe("true");
        expect(app.state.runs).toBe(1);
      });

      it("replays binary bodies byte for byte and bodiless statuses as such", async () => {
        const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
        let runs = 0;
        const app = mountWith({}, async (request) => {
          runs++;
          return request.url.endsWith("/empty")
            ? new Response(null, { status: 204 })
            : new Response(bytes, { status: 200, headers: { "content-type": "application/octet-stream" } });
        });
        const key = newKey();
        const bin = () => new Request(`${BASE}/bin`, { method: "POST", headers: { "idempotency-key": key } });
        expect(new Uint8Array(await (await app.send(bin())).arrayBuffer())).toEqual(bytes);
        const replay = await app.send(bin());
        expect(replay.headers.get("idempotent-replayed")).toBe("true");
        expect(new Uint8Array(await replay.arrayBuffer())).toEqual(bytes);

        const emptyKey = newKey();
        const empty = () =>
          new Request(`${BASE}/empty`, { method: "POST", headers: { "idempotency-key": emptyKey } });
        expect((await app.send(empty())).status).toBe(204);
        const emptyReplay = await app.send(empty());
        expect(emptyReplay.status).toBe(204);
        expect(emptyReplay.headers.get("idempotent-replayed")).toBe("true");
        expect(runs).toBe(2);
      });
    });

    describe("mismatch", () => {
      it("answers 422 for the same key with another body, method or path", async () => {
        const app = ordersApp({ methods: ["POST", "PATCH"] });
        const key = newKey();
        await app.send(post(key, { item: "book" }));
        await expectProblem(await app.send(post(key, { item: "lamp" })), 422, "key-reused");
        const otherPath = new Request(`${BASE}/payments`, {
          method: "POST",
          headers: { "idempotency-key": key, "content-type": "application/json" },
          body: JSON.stringify({ item: "book" }),
        });
        await expectProblem(await app.send(otherPath), 422, "key-reused");
        const otherMethod = new Request(`${BASE}/orders`, {
          method: "PATCH",
          headers: { "idempotency-key": key, "content-type": "application/json" },
          body: JSON.stringify({ item: "book" }),
        });
        await expectProblem(await app.send(otherMethod), 422, "key-reused");
        expect(app.state.runs).toBe(1);
        // The original is intact.
        expect((await app.send(post(key, { item: "book" }))).headers.get("idempotent-replayed")).toBe("true");
      });

      it("answers 422 for another body while the first is still in flight", async () => {
        const app = mountWith({}, async () => {
          await sleep(200);
          return new Response("done", { status: 201 });
        });
        const key = newKey();
        const first = app.send(post(key, { n: 1 }));
        await sleep(50);
        await expectProblem(await app.send(post(key, { n: 2 })), 422, "key-reused");
        expect((await first).status).toBe(201);
      });
    });

    describe("concurrent duplicates", () => {
      it("answers 409 with Retry-After while the first is in flight", async () => {
        let runs = 0;
        const app = mountWith({}, async () => {
          runs++;
          await sleep(200);
          return new Response("made", { status: 201 });
        });
        const key = newKey();
        const first = app.send(post(key));
        await sleep(50);
        const dup = await app.send(post(key));
        await expectProblem(dup, 409, "request-in-progress");
        expect(dup.headers.get("retry-after")).toBe("1");
        expect((await first).status).toBe(201);
        const after = await app.send(post(key));
        expect(after.headers.get("idempotent-replayed")).toBe("true");
        expect(runs).toBe(1);
      });

      it("a burst of 20 simultaneous duplicates runs the handler once", async () => {
        let runs = 0;
        const app = mountWith({}, async () => {
          runs++;
          await sleep(30);
          return new Response("once", { status: 201 });
        });
        const key = newKey();
        const responses = await Promise.all(Array.from({ length: 20 }, () => app.send(post(key))));
        expect(runs).toBe(1);
        expect(responses.every((r) => r.status === 201 || r.status === 409)).toBe(true);
        const originals = responses.filter(
          (r) => r.status === 201 && r.headers.get("idempotent-replayed") === null,
        );
        expect(originals).toHaveLength(1);
      });

      it("with waitForInFlight, duplicates wait and replay the first outcome", async () => {
        let runs = 0;
        const app = mountWith({ waitForInFlight: { timeoutMs: 5_000, pollMs: 20 } }, async () => {
          runs++;
          await sleep(150);
          return new Response(`run ${runs}`, { status: 201 });
        });
        const key = newKey();
        const responses = await Promise.all(Array.from({ length: 5 }, () => app.send(post(key))));
        expect(runs).toBe(1);
        for (const r of responses) {
          expect(r.status).toBe(201);
          expect(await r.text()).toBe("run 1");
        }
        expect(responses.filter((r) => r.headers.get("idempotent-replayed") === "true")).toHaveLength(4);
      });

      it("with waitForInFlight, a duplicate waits the whole timeoutMs before its 409, and counts as one conflict", async () => {
        let openGate!: () => void;
        const gate = new Promise<void>((resolve) => {
          openGate = resolve;
        });
        let started!: () => void;
        const running = new Promise<void>((resolve) => {
          started = resolve;
        });
        const app = mountWith({ waitForInFlight: { timeoutMs: 300, pollMs: 20 } }, async () => {
          started();
          await gate;
          return new Response("made", { status: 201 });
        });
        const key = newKey();
        const first = app.send(post(key));
        await running;
        const sentAt = performance.now();
        const [dup, dup2] = await Promise.all([app.send(post(key)), app.send(post(key))]);
        // It used to give up when the next backoff step would pass the deadline: at ~140 ms.
        expect(performance.now() - sentAt).toBeGreaterThanOrEqual(300);
        await expectProblem(dup!, 409, "request-in-progress");
        await expectProblem(dup2!, 409, "request-in-progress");
        // One event per waiter, not one per poll.
        expect(app.events.filter((e) => e.type === "conflict")).toHaveLength(2);
        openGate();
        expect((await first).status).toBe(201);
      });

      it("with waitForInFlight, a duplicate replays an outcome stored after the last full backoff step, before its deadline", async () => {
        let openGate!: () => void;
        const gate = new Promise<void>((resolve) => {
          openGate = resolve;
        });
        let started!: () => void;
        const running = new Promise<void>((resolve) => {
          started = resolve;
        });
        let runs = 0;
        const app = mountWith({ waitForInFlight: { timeoutMs: 600, pollMs: 40 } }, async () => {
          runs++;
          started();
          await gate;
          return new Response("made", { status: 201 });
        });
        const key = newKey();
        const first = app.send(post(key));
        await running;
        // Polls at 0, 40, 120 and 280 ms; the next step (320 ms) would pass the deadline, so the last
        // sleep ends on it (600 ms) and one more claim finds the outcome stored at ~400 ms.
        const dup = app.send(post(key));
        setTimeout(openGate, 400);
        const replay = await dup;
        expect(replay.status).toBe(201);
        expect(replay.headers.get("idempotent-replayed")).toBe("true");
        expect((await first).status).toBe(201);
        expect(runs).toBe(1);
        expect(app.events.filter((e) => e.type === "conflict")).toHaveLength(0);
      });
    });

    describe("headers at rest", () => {
      it("never stores or replays Set-Cookie, auth challenges, Date or hop-by-hop headers", async () => {
        const app = mountWith({}, async () => {
          const headers = new Headers({
            "content-type": "text/plain",
            "x-kept": "yes",
            "www-authenticate": 'Bearer realm="x"',
            "proxy-authenticate": "Basic",
            date: "Sat, 28 Nov 2026 00:00:00 GMT",
            "x-per-hop": "secret",
            connection: "x-per-hop",
          });
          headers.append("set-cookie", "session=s3cr3t; HttpOnly");
          return new Response("body", { status: 200, headers });
        });
        const key = newKey();
        const first = await app.send(post(key));
        expect(first.headers.get("set-cookie")).toContain("session=s3cr3t");
        const replay = await app.send(post(key));
        expect(replay.headers.get("idempotent-replayed")).toBe("true");
        expect(replay.headers.get("x-kept")).toBe("yes");
        for (const name of ["set-cookie", "www-authenticate", "proxy-authenticate", "x-per-hop"]) {
          expect(replay.headers.get(name), name).toBeNull();
        }
        expect(replay.headers.get("date") ?? "").not.toContain("28 Nov 2026 00:00:00");
      });

      it("never stores request headers such as Authorization", async () => {
        const app = mountWith({ keyPrefix: "auth-check:" }, async () => new Response("ok", { status: 201 }));
        const key = randomUUID();
        await app.send(post(key, { a: 1 }, { headers: { authorization: "Bearer TOPSECRET-TOKEN" } }));
        const record = await store.get(`auth-check:http:0::${key}`);
        expect(record?.state).toBe("completed");
        const stored = record?.state === "completed" ? Buffer.from(record.result).toString("latin1") : "";
        expect(stored).not.toContain("TOPSECRET");
        expect(stored).not.toMatch(/authorization/i);
      });
    });

    describe("which outcomes are stored", () => {
      it.each([500, 502, 503, 408, 425, 429])(
        "status %i releases the key, so a retry runs again",
        async (status) => {
          let runs = 0;
          const app = mountWith({}, async () => {
            runs++;
            return new Response(`attempt ${runs}`, { status: runs === 1 ? status : 201 });
          });
          const key = newKey();
          expect((await app.send(post(key))).status).toBe(status);
          const retry = await app.send(post(key));
          expect(retry.status).toBe(201);
          expect(retry.headers.get("idempotent-replayed")).toBeNull();
          expect(runs).toBe(2);
          expect(app.events.map((e) => e.type)).toContain("released");
        },
      );

      it.each([200, 201, 202, 400, 404, 409, 422])("status %i is stored and replayed", async (status) => {
        let runs = 0;
        const app = mountWith({}, async () => {
          runs++;
          return new Response("x", { status });
        });
        const key = newKey();
        await app.send(post(key));
        const retry = await app.send(post(key));
        expect(retry.status).toBe(status);
        expect(retry.headers.get("idempotent-replayed")).toBe("true");
        expect(runs).toBe(1);
      });

      it("a thrown handler error releases the key and surfaces the error", async () => {
        let runs = 0;
        const app = mountWith({}, async () => {
          runs++;
          if (runs === 1) throw new Error("handler crashed");
          return new Response("ok", { status: 201 });
        });
        const key = newKey();
        const failed = await app.send(post(key)).then(
          (r) => r.status,
          () => "threw",
        );
        expect(failed === "threw" || failed === 500).toBe(true);
        expect((await app.send(post(key))).status).toBe(201);
        expect(runs).toBe(2);
      });
    });

    describe("request bodies over the size cap", () => {
      it("answers 413 problem+json and does not run the handler or claim the key", async () => {
        const app = ordersApp({ maxRequestBytes: 1024 });
        const key = newKey();
        const big = { blob: "x".repeat(4096) };
        await expectProblem(await app.send(post(key, big)), 413, "request-too-large");
        expect(app.state.runs).toBe(0);
        expect((await app.send(post(key))).status).toBe(201);
        expect(app.state.runs).toBe(1);
      });
    });

    describe("responses over the size cap", () => {
      it("delivers the whole body once, never runs again, and replays 410 not-replayable", async () => {
        const big = new Uint8Array(64 * 1024).fill(7);
        let runs = 0;
        const app = mountWith({ maxResponseBytes: 16 * 1024 }, async () => {
          runs++;
          return new Response(big, { status: 201 });
        });
        const key = newKey();
        const first = await app.send(post(key));
        expect(first.status).toBe(201);
        expect(new Uint8Array(await first.arrayBuffer())).toEqual(big);
        const retry = await app.send(post(key));
        const problem = await expectProblem(retry, 410, "response-not-replayable");
        expect(problem.originalStatus).toBe(201);
        expect(retry.headers.get("idempotent-replayed")).toBe("true");
        expect(runs).toBe(1);
      });
    });

    describe("store failures", () => {
      const down = (inner: IdempotencyStore, overrides: Partial<IdempotencyStore>): IdempotencyStore =>
        ({
          claim: inner.claim.bind(inner),
          complete: inner.complete.bind(inner),
          release: inner.release.bind(inner),
          extend: inner.extend.bind(inner),
          get: inner.get.bind(inner),
          delete: inner.delete.bind(inner),
          ...overrides,
        }) as IdempotencyStore;

      it("answers 503 with Retry-After and does not run the handler when the store is unreachable", async () => {
        let runs = 0;
        const app = mountWith(
          { store: down(store, { claim: () => Promise.reject(new Error("ECONNREFUSED")) }) },
          async () => {
            runs++;
            return new Response("x", { status: 201 });
          },
        );
        const response = await app.send(post(newKey()));
        await expectProblem(response, 503, "store-unavailable");
        expect(response.headers.get("retry-after")).toBe("2");
        expect(runs).toBe(0);
        expect(app.events.some((e) => e.type === "store-error")).toBe(true);
      });

      it("bounds a hanging store by storeTimeoutMs, then answers 503", async () => {
        const app = mountWith(
          { store: down(store, { claim: () => new Promise(() => {}) }), storeTimeoutMs: 100 },
          async () => new Response("x", { status: 201 }),
        );
        await expectProblem(await app.send(post(newKey())), 503, "store-unavailable");
      });

      it("fail-open runs the handler unprotected when chosen", async () => {
        let runs = 0;
        const app = mountWith(
          {
            store: down(store, { claim: () => Promise.reject(new Error("down")) }),
            onStoreUnavailable: "open",
          },
          async () => {
            runs++;
            return new Response("unprotected", { status: 201 });
          },
        );
        expect((await app.send(post(newKey()))).status).toBe(201);
        expect(runs).toBe(1);
      });

      it("when storing the outcome fails, the client still gets the real response; the key stays in progress", async () => {
        let runs = 0;
        const app = mountWith(
          {
            store: down(store, { complete: () => Promise.reject(new Error("write failed")) }),
            leaseMs: 5_000,
          },
          async () => {
            runs++;
            return new Response("real", { status: 201 });
          },
        );
        const key = newKey();
        const first = await app.send(post(key));
        expect(first.status).toBe(201);
        expect(await first.text()).toBe("real");
        expect(app.events.some((e) => e.type === "store-error" && e.operation === "complete")).toBe(true);
        await expectProblem(await app.send(post(key)), 409, "request-in-progress");
        expect(runs).toBe(1);
      });
    });

    const streaming = target.noStreaming === undefined ? describe : describe.skip;
    const streamingTitle = (title: string) =>
      target.noStreaming === undefined ? title : `${title} (skipped: ${target.noStreaming})`;

    streaming(streamingTitle("streamed responses (server-sent events)"), () => {
      it("flow through as produced, complete the key at once, and replay 410 without running again", async () => {
        let runs = 0;
        let open!: () => void;
        const gate = new Promise<void>((resolve) => {
          open = resolve;
        });
        const keyPrefix = `sse-${randomUUID()}:`;
        const app = mountWith({ keyPrefix }, async () => {
          runs++;
          const encoder = new TextEncoder();
          const events = new ReadableStream<Uint8Array>({
            async start(controller) {
              controller.enqueue(encoder.encode("data: first\n\n"));
              await gate;
              controller.enqueue(encoder.encode("data: last\n\n"));
              controller.close();
            },
          });
          return new Response(events, { status: 200, headers: { "content-type": "text/event-stream" } });
        });
        const key = randomUUID();
        const response = await app.send(post(key));
        expect(response.status).toBe(200);
        const reader = response.body!.getReader();
        const decoder = new TextDecoder();
        let received = "";
        while (!received.includes("data: first")) {
          const { value, done } = await reader.read();
          if (done) break;
          received += decoder.decode(value, { stream: true });
        }
        // The first event arrived while the handler is still streaming: nothing was held back, and
        // the key is already completed (not left in progress until the lease runs out).
        expect((await store.get(`${keyPrefix}http:0::${key}`))?.state).toBe("completed");
        const retry = await app.send(post(key));
        const problem = await expectProblem(retry, 410, "response-not-replayable");
        expect(problem.originalStatus).toBe(200);
        expect(retry.headers.get("idempotent-replayed")).toBe("true");
        open();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          received += decoder.decode(value, { stream: true });
        }
        expect(received).toBe("data: first\n\ndata: last\n\n");
        expect(runs).toBe(1);
      });
    });

    streaming(streamingTitle("a response body that fails mid-stream"), () => {
      it("surfaces the error and holds the key: the work ran, so retries get 410, never a second run", async () => {
        let runs = 0;
        const app = mountWith({ leaseMs: 300 }, async () => {
          runs++;
          if (runs > 1) return new Response("second", { status: 201 });
          const body = new ReadableStream<Uint8Array>({
            pull(controller) {
              controller.error(new Error("body broke"));
            },
          });
          return new Response(body, { status: 201 });
        });
        const key = newKey();
        const first = await app.send(post(key)).then(
          (r) => r.status,
          () => "threw",
        );
        expect(first === "threw" || first === 500).toBe(true);
        // The capture may wait out a grace period (the lease) for a route cut off mid-body.
        await sleep(450);
        const problem = await expectProblem(await app.send(post(key)), 410, "response-not-replayable");
        expect(problem.originalStatus).toBe(201);
        expect(runs).toBe(1);
      });
    });

    describe("a throwing option after the handler ran", () => {
      it("surfaces the error and frees the key when the lease ends (no endless heartbeat)", async () => {
        let runs = 0;
        let throwing = true;
        const app = mountWith(
          {
            leaseMs: 300,
            shouldStore: (status) => {
              if (throwing) throw new Error("policy bug");
              return status < 500;
            },
          },
          async () => {
            runs++;
            return new Response(`run ${runs}`, { status: 201 });
          },
        );
        const key = newKey();
        const first = await app.send(post(key)).then(
          (r) => r.status,
          () => "threw",
        );
        expect(first === "threw" || first === 500).toBe(true);
        throwing = false;
        await expectProblem(await app.send(post(key)), 409, "request-in-progress");
        await sleep(450);
        const retry = await app.send(post(key));
        expect(retry.status).toBe(201);
        expect(runs).toBe(2);
      });
    });

    describe("scope", () => {
      it("keeps the same key apart across scopes, injectively", async () => {
        let runs = 0;
        const app = mountWith(
          { scope: (request) => request.headers.get("x-tenant") ?? undefined },
          async () => {
            runs++;
            return new Response(`run ${runs}`, { status: 201 });
          },
        );
        const send = (tenant: string, key: string) =>
          app.send(post(key, { a: 1 }, { headers: { "x-tenant": tenant } }));
        expect(await (await send("a:b", "c")).text()).toBe("run 1");
        expect(await (await send("a", "b:c")).text()).toBe("run 2");
        expect(await (await send("other", "c")).text()).toBe("run 3");
        const replay = await send("a:b", "c");
        expect(await replay.text()).toBe("run 1");
        expect(runs).toBe(3);
      });

      it("answers 400 scope-missing, without running, when the scope cannot tell whose key it is", async () => {
        let runs = 0;
        const app = mountWith(
          { scope: (request) => request.headers.get("x-tenant") ?? undefined },
          async () => {
            runs++;
            return new Response("ran", { status: 201 });
          },
        );
        const key = newKey();
        await expectProblem(await app.send(post(key)), 400, "scope-missing");
        // An empty identity is no identity either: it would be the key space "global" shares.
        await expectProblem(
          await app.send(post(key, undefined, { headers: { "x-tenant": "" } })),
          400,
          "scope-missing",
        );
        expect((await app.send(post(key, undefined, { headers: { "x-tenant": "t1" } }))).status).toBe(201);
        expect(runs).toBe(1);
      });
    });

    describe("leases", () => {
      it("a lost lease fires the handler's signal; its result is not stored, and its client gets what a retry would", async () => {
        let runs = 0;
        let aborted = false;
        const keyPrefix = `lease-${randomUUID()}:`;
        const app = mountWith({ leaseMs: 150, keyPrefix }, async (_request, { signal }) => {
          const run = ++runs;
          signal.addEventListener("abort", () => {
            aborted = true;
          });
          if (run === 1) await sleep(400);
          return new Response(`run ${run}`, { status: 201 });
        });
        const key = randomUUID();
        const first = app.send(post(key));
        await untilClaimed(`${keyPrefix}http:0::${key}`);
        await store.delete(`${keyPrefix}http:0::${key}`); // an operator purge while the first still runs
        const second = await app.send(post(key));
        expect(await second.text()).toBe("run 2");
        // No 2xx for superseded work: the first client gets the new owner's stored answer, replayed.
        const superseded = await first;
        expect(await superseded.text()).toBe("run 2");
        expect(superseded.headers.get("idempotent-replayed")).toBe("true");
        expect(aborted).toBe(true);
        expect(app.events.some((e) => e.type === "lease-lost")).toBe(true);
        const replay = await app.send(post(key));
        expect(await replay.text()).toBe("run 2");
      });

      it("a superseded owner's client gets 409 while the new owner still works", async () => {
        let runs = 0;
        let openGate!: () => void;
        const gate = new Promise<void>((resolve) => {
          openGate = resolve;
        });
        const keyPrefix = `lease-${randomUUID()}:`;
        // The first owner loses by the purge, not by its lease running out: a long lease keeps the
        // second one's alive while it waits on the gate, however loaded the machine (150 ms once
        // ran out in CI beside the other suites, and the second owner's completion was refused).
        const app = mountWith({ leaseMs: 2_000, keyPrefix }, async () => {
          const run = ++runs;
          if (run === 1) await sleep(300);
          else await gate;
          return new Response(`run ${run}`, { status: 201 });
        });
        const key = randomUUID();
        const first = app.send(post(key));
        await untilClaimed(`${keyPrefix}http:0::${key}`);
        await store.delete(`${keyPrefix}http:0::${key}`);
        const second = app.send(post(key));
        await expectProblem(await first, 409, "request-in-progress");
        openGate();
        expect(await (await second).text()).toBe("run 2");
        expect(runs).toBe(2);
      });
    });

    describe("the maximum hold", () => {
      it("a handler that never settles holds its key for maxHoldMs plus at most a lease, its signal fired; then the key runs again", async () => {
        let runs = 0;
        let abortReason: unknown;
        let settleFirst!: (response: Response) => void;
        // A lease of 800 ms: its renewals must survive a loaded machine's stalls (with 200 ms, CI once
        // saw the key free before the maximum hold, a renewal late).
        const app = mountWith({ leaseMs: 800, maxHoldMs: 2_000 }, async (_request, { signal }) => {
          const run = ++runs;
          if (run > 1) return new Response(`run ${run}`, { status: 201 });
          signal.addEventListener("abort", () => {
            abortReason = signal.reason;
          });
          // Ignores its signal and never settles (until the test ends, so its connection closes).
          return new Promise<Response>((resolve) => {
            settleFirst = resolve;
          });
        });
        await app.ready;
        const key = newKey();
        const sentAt = performance.now();
        const first = app.send(post(key));
        first.catch(() => {});
        // Within the maximum hold, every retry gets 409.
        for (const at of [400, 1_400]) {
          await sleep(sentAt + at - performance.now());
          await expectProblem(await app.send(post(key)), 409, "request-in-progress");
        }
        expect(abortReason).toBeUndefined();
        // Past it the lease is no longer renewed: the key frees when the last renewal ends.
        let retry: Response;
        for (;;) {
          retry = await app.send(post(key));
          if (retry.status !== 409) break;
          await retry.arrayBuffer();
          expect(performance.now() - sentAt).toBeLessThan(10_000);
          await sleep(25);
        }
        expect(performance.now() - sentAt).toBeGreaterThanOrEqual(2_000);
        expect(retry.status).toBe(201);
        expect(await retry.text()).toBe("run 2");
        expect(runs).toBe(2);
        expect(abortReason).toMatchObject({ name: "MaxHoldExceededError", code: "max_hold_exceeded" });
        const lost = app.events.filter((e) => e.type === "lease-lost");
        expect(lost.map((e) => e.type === "lease-lost" && e.phase)).toEqual(["max-hold"]);
        // Settling now, after the key ran again: its completion is refused, and its client gets
        // what a retry gets (the new outcome), never a second stored answer.
        settleFirst(new Response("late", { status: 201 }));
        const late = await first;
        expect(await late.text()).toBe("run 2");
        expect(late.headers.get("idempotent-replayed")).toBe("true");
        expect(await (await app.send(post(key))).text()).toBe("run 2");
      });
    });
  });
}
