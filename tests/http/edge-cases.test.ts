import { createHash, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import {
  createIdempotency,
  createMemoryStore,
  type HttpOptions,
  type Idempotency,
  type IdempotencyStore,
  type IdempotentHandler,
  type Problem,
} from "@idemkit/core";
import { idempotency as expressIdempotency } from "@idemkit/express";
import { idempotency as fastifyIdempotency } from "@idemkit/fastify";
import { createRequestListener, idempotentListener, idempotency as nodeIdempotency } from "@idemkit/node";
import express from "express";
import express4 from "express4";
import Fastify, { type FastifyInstance, type FastifyRequest } from "fastify";
import { describe, expect, it, vi } from "vitest";
import { loopback } from "./loopback.js";
import { exchange, type RawRequest, type RawResponse, raw } from "./raw-http.js";

/**
 * Edge cases of the HTTP layer, over real loopback sockets, on every integration: Express 5,
 * Express 4, Fastify 5, the node:http listener and connect-style middleware, and the node:http Web
 * bridge. Raw sockets (raw-http.ts) send what `fetch` cannot: odd request targets and hosts, a
 * header line twice, uploads that never end, clients that go away mid-response.
 */

const servers = loopback();

// --- what a test mounts ----------------------------------------------------------------------------

type HeaderOf = (name: string) => string | undefined;
/** The HTTP options that do not read the framework's request. */
type HttpSettings = Omit<HttpOptions<never>, "scope" | "fingerprint">;
/** A native node:http route: what Express and the node:http targets run instead of the echo. */
type NodeRoute = (req: IncomingMessage, res: ServerResponse) => unknown;

interface Mount {
  http?: HttpSettings;
  /** `"global"` (default) or a scope read from the request's headers, adapted to each framework. */
  scope?: "global" | ((header: HeaderOf) => string | undefined);
  leaseMs?: number;
  store?: IdempotencyStore;
  /** Express and node:http targets: this route instead of the echo. */
  node?: NodeRoute;
  /** Fastify: routes of its own instead of the echo. */
  fastify?: (app: FastifyInstance) => void;
  /** Web bridge: this handler instead of the echo. */
  web?: IdempotentHandler;
  /** Express: more routes, before the catch-all. */
  express?: (app: express.Express) => void;
}

interface App {
  port: number;
  /** Runs of the echo route (custom routes count their own). */
  runs(): number;
  send(request: RawRequest): Promise<RawResponse>;
  /** A POST (covered) with a key when given, a JSON body by default. */
  post(target: string, init?: PostInit): Promise<RawResponse>;
  /** The server still answers: an uncovered GET and a covered POST with a fresh key, on new connections. */
  alive(): Promise<void>;
}

interface PostInit {
  key?: string;
  body?: string;
  type?: string;
  headers?: [string, string][];
  chunked?: number;
}

type Kind = "express5" | "express4" | "node-listener" | "node-middleware" | "fastify" | "web";

interface Target {
  name: string;
  kind: Kind;
  /** Whether idemkit sees the request target as bytes (every target but the Web bridge). */
  byteLevel: boolean;
  start(mount?: Mount): Promise<App>;
  /** Creates the integration from an instance without a scope (must throw a TypeError). */
  createWithoutScope(idem: Idempotency): unknown;
}

// --- the echo route, the same on every target ------------------------------------------------------

interface Seen {
  method: string;
  target: string;
  body: unknown;
}

interface Reply {
  status: number;
  headers: Record<string, string | string[]>;
  body: string;
}

/** What `/gated…` routes wait for: opened by the test that closed it (`closeGate`). */
let gate: Promise<void> = Promise.resolve();

/** Makes `/gated…` routes wait until the returned function is called. */
function closeGate(): () => void {
  let open!: () => void;
  gate = new Promise((resolve) => {
    open = resolve;
  });
  return open;
}

/**
 * Counts its runs and answers what it saw. `/slow…` takes 400 ms; `/gated…` waits for the gate
 * (`closeGate`); `/marked…` sets `Idempotent-Replayed: true` itself. A cookie and a custom header ride
 * along.
 */
function echo(state: { runs: number }) {
  return async (seen: Seen): Promise<Reply> => {
    const run = ++state.runs;
    if (seen.target.startsWith("/slow")) await sleep(400);
    if (seen.target.startsWith("/gated")) await gate;
    const headers: Record<string, string | string[]> = {
      "content-type": "application/json",
      "x-run": String(run),
      "set-cookie": [`session=${run}; HttpOnly`],
    };
    if (seen.target.startsWith("/marked")) headers["idempotent-replayed"] = "true";
    const body = { run, method: seen.method, target: seen.target, body: seen.body };
    return { status: seen.method === "GET" ? 200 : 201, headers, body: JSON.stringify(body) };
  };
}

function decode(bytes: Uint8Array, contentType: string | null | undefined): unknown {
  const text = Buffer.from(bytes).toString("utf8");
  if (text === "") return null;
  if (contentType?.includes("json")) return JSON.parse(text);
  if (contentType?.includes("x-www-form-urlencoded")) return Object.fromEntries(new URLSearchParams(text));
  return text;
}

async function readAll(stream: AsyncIterable<Buffer | string>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

const one = (value: string | string[] | undefined) => (Array.isArray(value) ? value.join(", ") : value);
const sha = (data: string | Uint8Array) => createHash("sha256").update(data).digest("hex").slice(0, 16);

/** The echo as a node:http route: a body a parser read (Express) as it left it, else read here. */
function nodeEcho(route: (seen: Seen) => Promise<Reply>): NodeRoute {
  return async (req, res) => {
    const parsed = req.readableEnded ? (req as { body?: unknown }).body : undefined;
    const body = parsed !== undefined ? parsed : decode(await readAll(req), req.headers["content-type"]);
    const target = (req as { originalUrl?: string }).originalUrl ?? req.url ?? "";
    const reply = await route({ method: req.method!, target, body });
    res.writeHead(reply.status, reply.headers);
    res.end(reply.body);
  };
}

// --- the targets -----------------------------------------------------------------------------------

function instance(mount: Mount): Idempotency {
  return createIdempotency({
    store: mount.store ?? createMemoryStore(),
    keyPrefix: `edge-${randomUUID()}:`,
    ...(mount.leaseMs !== undefined && { leaseMs: mount.leaseMs }),
  });
}

function nodeScope(mount: Mount) {
  const scope = mount.scope ?? "global";
  if (scope === "global") return scope;
  return (req: IncomingMessage) => scope((n) => one(req.headers[n]));
}

function appAt(port: number, state: { runs: number }): App {
  const send = (request: RawRequest) => raw(port, request);
  return {
    port,
    runs: () => state.runs,
    send,
    post: (target, init = {}) => {
      const headers: [string, string][] = [["Content-Type", init.type ?? "application/json"]];
      if (init.key !== undefined) headers.push(["Idempotency-Key", init.key]);
      headers.push(...(init.headers ?? []));
      return send({
        method: "POST",
        target,
        headers,
        body: init.body ?? JSON.stringify({ item: "book", qty: 1 }),
        chunked: init.chunked,
      });
    },
    alive: async () => {
      const get = await send({ method: "GET", target: "/alive" });
      expect([get.status, get.text()]).toEqual([200, "alive"]);
      const post = await send({
        method: "POST",
        target: "/alive",
        // An API key too, for the apps whose scope reads one (a request without identity gets 400).
        headers: { "Idempotency-Key": randomUUID(), "X-Api-Key": "sk_alive" },
      });
      expect([post.status, post.text()]).toEqual([200, "alive"]);
    },
  };
}

/** The app of a server listening at `origin`. */
const appOf = (origin: string, state: { runs: number }) => appAt(Number(new URL(origin).port), state);

function expressTarget(name: string, kind: Kind, make: typeof express, catchAll: string): Target {
  return {
    name,
    kind,
    byteLevel: true,
    async start(mount = {}) {
      const state = { runs: 0 };
      const idem = instance(mount);
      const app = make();
      app.use(make.json({ limit: "10mb" }));
      app.use(make.urlencoded({ extended: false }));
      app.use(expressIdempotency(idem, { ...mount.http, scope: nodeScope(mount) }));
      app.all("/alive", (_req, res) => void res.type("text/plain").send("alive"));
      mount.express?.(app);
      const route = mount.node ?? nodeEcho(echo(state));
      app.all(catchAll, (req, res, next) => {
        Promise.resolve(route(req, res)).catch(next);
      });
      // An error handler that answers 500 with headers of its own (unless the response is under way).
      app.use(((error, _req, res, next) => {
        if (res.headersSent) return next(error);
        res.statusMessage = "Handler Error";
        res.status(500).set("x-error-handler", "yes").json({ error: "route failed" });
      }) as express.ErrorRequestHandler);
      const origin = await servers.listen(createServer(app));
      return appOf(origin, state);
    },
    createWithoutScope: (idem) => expressIdempotency(idem, {}),
  };
}

function withAlive(route: NodeRoute): NodeRoute {
  return (req, res) => {
    if (req.url === "/alive") return void res.end("alive");
    return route(req, res);
  };
}

const nodeListener: Target = {
  name: "node:http idempotentListener",
  kind: "node-listener",
  byteLevel: true,
  async start(mount = {}) {
    const state = { runs: 0 };
    const listener = idempotentListener(
      instance(mount),
      { ...mount.http, scope: nodeScope(mount), onError: () => {} },
      withAlive(mount.node ?? nodeEcho(echo(state))),
    );
    return appOf(await servers.listen(createServer(listener)), state);
  },
  createWithoutScope: (idem) => idempotentListener(idem, {}, () => {}),
};

const nodeMiddleware: Target = {
  name: "node:http connect-style middleware",
  kind: "node-middleware",
  byteLevel: true,
  async start(mount = {}) {
    const state = { runs: 0 };
    const middleware = nodeIdempotency(instance(mount), { ...mount.http, scope: nodeScope(mount) });
    const route = withAlive(mount.node ?? nodeEcho(echo(state)));
    const failed = (res: ServerResponse) => {
      if (res.headersSent) return void res.destroy();
      res.statusCode = 500;
      res.end("route failed");
    };
    const server = createServer((req, res) =>
      middleware(req, res, (error) => {
        if (error) return failed(res);
        Promise.resolve()
          .then(() => route(req, res))
          .catch(() => failed(res));
      }),
    );
    return appOf(await servers.listen(server), state);
  },
  createWithoutScope: (idem) => nodeIdempotency(idem, {}),
};

/** Fastify with a form parser (URLSearchParams: @fastify/formbody is not installed) and two parsers
 * that leave the body unread for the route (octet-stream, and multipart like @fastify/multipart). */
const fastify: Target = {
  name: "Fastify 5",
  kind: "fastify",
  byteLevel: true,
  async start(mount = {}) {
    const state = { runs: 0 };
    const app = Fastify();
    app.addContentTypeParser(
      "application/x-www-form-urlencoded",
      { parseAs: "string" },
      (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
    );
    app.addContentTypeParser(
      ["application/octet-stream", "multipart/form-data"],
      (_request, _payload, done) => done(null),
    );
    const scope = mount.scope ?? "global";
    await app.register(fastifyIdempotency, {
      idempotency: instance(mount),
      ...mount.http,
      scope: scope === "global" ? scope : (request: FastifyRequest) => scope((n) => one(request.headers[n])),
    });
    app.route({ method: ["GET", "POST"], url: "/alive", handler: async () => "alive" });
    if (mount.fastify) mount.fastify(app);
    else {
      const route = echo(state);
      app.route({
        method: ["GET", "POST", "PUT", "PATCH"],
        url: "/*",
        handler: async (request, reply) => {
          const body =
            request.body !== undefined
              ? request.body
              : decode(await readAll(request.raw), request.headers["content-type"]);
          const answer = await route({ method: request.method, target: request.url, body });
          reply.code(answer.status).headers(answer.headers);
          return reply.send(answer.body);
        },
      });
    }
    await app.listen({ port: 0, host: "127.0.0.1" });
    servers.track(app);
    return appOf(`http://127.0.0.1:${(app.server.address() as { port: number }).port}`, state);
  },
  createWithoutScope: async (idem) => {
    const app = Fastify({ pluginTimeout: 1_000 });
    try {
      await app.register(fastifyIdempotency, { idempotency: idem } as never);
      await app.ready();
    } finally {
      await app.close().catch(() => {});
    }
  },
};

/** A Web handler (`idem.wrap`) on node:http through `createRequestListener`. */
const web: Target = {
  name: "node:http Web bridge",
  kind: "web",
  byteLevel: false,
  async start(mount = {}) {
    const state = { runs: 0 };
    const scope = mount.scope ?? "global";
    const idem = instance(mount).withOptions({
      ...mount.http,
      scope:
        scope === "global" ? scope : (request: Request) => scope((n) => request.headers.get(n) ?? undefined),
    });
    const route = echo(state);
    const handler: IdempotentHandler =
      mount.web ??
      (async (request) => {
        const body = decode(new Uint8Array(await request.arrayBuffer()), request.headers.get("content-type"));
        const url = new URL(request.url);
        const answer = await route({
          method: request.method,
          target: url.pathname + url.search,
          body,
        });
        const headers = new Headers();
        for (const [name, value] of Object.entries(answer.headers)) {
          for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
        }
        return new Response(answer.body, { status: answer.status, headers });
      });
    const wrapped = idem.wrap(async (request, context) =>
      new URL(request.url).pathname === "/alive" ? new Response("alive") : handler(request, context),
    );
    const server = createServer(createRequestListener(wrapped, { onError: () => {} }));
    return appOf(await servers.listen(server), state);
  },
  createWithoutScope: (idem) => idem.wrap(async () => new Response("never")),
};

const express5 = expressTarget("Express 5", "express5", express, "/{*path}");
const express4Target = expressTarget("Express 4", "express4", express4 as unknown as typeof express, "*");
const TARGETS: Target[] = [express5, express4Target, fastify, nodeListener, nodeMiddleware, web];
const NODE_ROUTE_TARGETS = [express5, express4Target, nodeListener, nodeMiddleware];

/** Lists a target a scenario does not apply to, with the reason, as a skipped test. */
const notApplicable = (target: Target, why: string) =>
  it.skip(`${target.name}: does not apply (${why})`, () => {});

// --- assertions --------------------------------------------------------------------------------------

function expectProblem(response: RawResponse, status: number, type: string) {
  expect(response.status, response.text()).toBe(status);
  expect(response.header("content-type")).toBe("application/problem+json");
  expect(response.json()).toMatchObject({ status, type: `urn:idemkit:problem:${type}` });
}

/** Upload sizes and types used below. */
const KiB = 1024;
const MiB = 1024 * KiB;
const overCap = JSON.stringify({ blob: "x".repeat(4 * KiB) });
/** A content type no parser reads on this target (Fastify parses text/plain itself). */
const unparsedType = (target: Target) =>
  target.kind === "fastify" ? "application/octet-stream" : "text/plain";

// =====================================================================================================
// 1. Request bodies over `maxRequestBytes`: 413 problem+json before the route runs, however the body
//    comes (chunked or with a length, parsed by the framework or not), and the process keeps serving.
// =====================================================================================================
describe("1. request bodies over the cap", () => {
  for (const target of TARGETS) {
    for (const [label, type] of [
      ["a JSON body", () => "application/json"],
      ["a body no parser reads", unparsedType],
    ] as const) {
      for (const chunked of [undefined, 1000]) {
        const framing = chunked ? "chunked" : "with Content-Length";
        it(`${target.name}: ${label} (${type(target)}) ${framing} gets 413 and the route does not run`, async () => {
          const app = await target.start({ http: { maxRequestBytes: 1024 } });
          const key = randomUUID();
          const tooLarge = await app.post("/orders", { key, body: overCap, type: type(target), chunked });
          expectProblem(tooLarge, 413, "request-too-large");
          expect(app.runs()).toBe(0);
          // The key was not claimed: the same key with a body under the cap runs, on a new connection.
          const small = await app.post("/orders", { key, type: type(target) });
          expect(small.status).toBe(201);
          expect(app.runs()).toBe(1);
          await app.alive();
        });
      }
    }

    it(`${target.name}: a 50 MiB chunked upload gets 413 at once, unread, and the server survives`, async () => {
      const app = await target.start({ http: { maxRequestBytes: 1024 } });
      const piece = Buffer.alloc(64 * KiB, 0x78);
      async function* fiftyMiB() {
        for (let i = 0; i < 800; i++) yield piece;
      }
      const started = Date.now();
      const result = await exchange(app.port, {
        method: "POST",
        target: "/orders",
        headers: { "Idempotency-Key": randomUUID(), "Content-Type": unparsedType(target) },
        body: fiftyMiB(),
      });
      expect(result.response).toBeDefined();
      expectProblem(result.response!, 413, "request-too-large");
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(result.bodyComplete).toBe(false); // answered long before the upload could end
      expect(result.bodyBytesSent).toBeLessThan(50 * MiB);
      expect(app.runs()).toBe(0);
      await app.alive();
    });
  }
});

// =====================================================================================================
// 2. Request targets and hosts that cannot form a URL: never a 500 and never a crash. Uncovered
//    requests get the route's own answer, covered ones are answered normally (the fingerprint uses
//    the target's path only, never the Host), and a covered target that is no path gets 400.
// =====================================================================================================
describe("2. targets and hosts that cannot form a URL", () => {
  for (const target of TARGETS) {
    it(`${target.name}: GET // and //x and odd Hosts get the route's own answer`, async () => {
      const app = await target.start();
      for (const [path, host] of [
        ["//", undefined],
        ["//x", undefined],
        ["/", "a:b:c"],
        ["/", "localhost/evil"],
      ] as const) {
        const response = await app.send({
          method: "GET",
          target: path,
          headers: host ? { Host: host } : {},
        });
        expect(response.status, `${path} ${host}`).toBe(200);
        expect(response.json()).toMatchObject({ method: "GET", target: path });
        await app.alive();
      }
      expect(app.runs()).toBe(4);
    });

    it(`${target.name}: covered POSTs to //x and with odd Hosts are answered, the Host not fingerprinted`, async () => {
      const app = await target.start();
      const slashes = await app.post("//x", { key: randomUUID() });
      expect(slashes.status).toBe(201);
      expect(slashes.json()).toMatchObject({ target: "//x" });
      const key = randomUUID();
      const first = await app.post("/orders", { key, headers: [["Host", "a:b:c"]] });
      expect(first.status).toBe(201);
      for (const host of ["localhost/evil", `127.0.0.1:${app.port}`]) {
        const again = await app.post("/orders", { key, headers: [["Host", host]] });
        expect(again.status).toBe(201);
        expect(again.header("idempotent-replayed")).toBe("true");
        expect(again.text()).toBe(first.text());
      }
      expect(app.runs()).toBe(2);
      await app.alive();
    });

    if (target.byteLevel) {
      it(`${target.name}: a covered POST * gets 400 target-invalid, the route does not run`, async () => {
        const app = await target.start();
        expectProblem(await app.post("*", { key: randomUUID() }), 400, "target-invalid");
        expect(app.runs()).toBe(0);
        await app.alive();
      });
    } else {
      it(`${target.name}: a POST * gets 400 from the bridge (never read as "/"), the route does not run`, async () => {
        const app = await target.start();
        const response = await app.post("*", { key: randomUUID() });
        expect(response.status).toBe(400);
        expect(app.runs()).toBe(0);
        await app.alive();
      });
    }

    it(`${target.name}: POST foo is refused by node:http's own parser (400), the route does not run`, async () => {
      const app = await target.start();
      const response = await app.post("foo", { key: randomUUID() });
      expect(response.status).toBe(400);
      expect(app.runs()).toBe(0);
      await app.alive();
    });
  }
});

// =====================================================================================================
// 3. `//x/refunds` is a path, not a host: with the same key and body as `/refunds` it is another
//    request (422), never a replay of the other route.
// =====================================================================================================
describe("3. //x/refunds and /refunds are different requests", () => {
  for (const target of TARGETS) {
    it(`${target.name}: the same key on the other path gets 422 key-reused, both ways`, async () => {
      const app = await target.start();
      for (const [first, second] of [
        ["//x/refunds", "/refunds"],
        ["/refunds", "//x/refunds"],
      ]) {
        const key = randomUUID();
        const runs = app.runs();
        expect((await app.post(first!, { key })).status).toBe(201);
        expectProblem(await app.post(second!, { key }), 422, "key-reused");
        expect(app.runs()).toBe(runs + 1);
      }
      await app.alive();
    });
  }
});

// =====================================================================================================
// 4. One key per request: a header line sent twice, a list, or parameters are refused with 400
//    before anything runs.
// =====================================================================================================
describe("4. more than one key, or a key with parameters", () => {
  for (const target of TARGETS) {
    it(`${target.name}: two header lines, "a, b" and "k";p=1 get 400 key-invalid`, async () => {
      const app = await target.start();
      const variants: [string, string][][] = [
        [
          ["Idempotency-Key", "a"],
          ["Idempotency-Key", "b"],
        ],
        [["Idempotency-Key", "a, b"]],
        [["Idempotency-Key", '"k";p=1']],
      ];
      for (const headers of variants) {
        expectProblem(await app.post("/orders", { headers }), 400, "key-invalid");
      }
      expect(app.runs()).toBe(0);
      await app.alive();
    });
  }
});

// =====================================================================================================
// 5. Uncovered methods are passed on untouched: idemkit neither reads nor starts the body stream, so
//    a route that reads it with 'data'/'end' gets all of it.
// =====================================================================================================
describe("5. uncovered methods keep their body stream", () => {
  const fiveMiB = Buffer.alloc(5 * MiB, 0x61);
  const expected = { size: fiveMiB.length, sha: sha(fiveMiB), flowing: null, dataListeners: 0 };

  /** Records the stream's state at entry, then reads it with 'data'/'end'. */
  const dataRoute =
    (runs: { n: number }) => (req: IncomingMessage, answer: (status: number, body: string) => void) => {
      runs.n++;
      const entry = { flowing: req.readableFlowing, dataListeners: req.listenerCount("data") };
      const hash = createHash("sha256");
      let size = 0;
      req.on("data", (chunk: Buffer) => {
        size += chunk.length;
        hash.update(chunk);
      });
      req.on("end", () =>
        answer(200, JSON.stringify({ size, sha: hash.digest("hex").slice(0, 16), ...entry })),
      );
    };

  for (const target of [...NODE_ROUTE_TARGETS, fastify]) {
    it(`${target.name}: a PUT route reading 5 MiB with req.on("data") gets it all`, async () => {
      const runs = { n: 0 };
      const read = dataRoute(runs);
      const app = await target.start({
        node: (req, res) =>
          read(req, (status, body) => {
            res.writeHead(status, { "content-type": "application/json" });
            res.end(body);
          }),
        // Fastify reads bodies with content-type parsers: this one leaves it for the route.
        fastify: (fastifyApp) =>
          fastifyApp.put("/upload", (request, reply) =>
            read(request.raw, (status, body) => void reply.code(status).type("application/json").send(body)),
          ),
      });
      for (const chunked of [undefined, 64 * KiB]) {
        const response = await app.send({
          method: "PUT",
          target: "/upload",
          headers: { "Content-Type": unparsedType(target), "Idempotency-Key": "ignored-on-put" },
          body: fiveMiB,
          chunked,
        });
        expect(response.status).toBe(200);
        expect(response.json()).toEqual(expected);
      }
      expect(runs.n).toBe(2); // never replayed: PUT is not covered
      await app.alive();
    });
  }

  it(`${web.name}: a PUT handler reads the whole 5 MiB body`, async () => {
    let runs = 0;
    const app = await web.start({
      web: async (request) => {
        runs++;
        const bytes = new Uint8Array(await request.arrayBuffer());
        return Response.json({ size: bytes.length, sha: sha(bytes), flowing: null, dataListeners: 0 });
      },
    });
    const response = await app.send({ method: "PUT", target: "/upload", body: fiveMiB, chunked: 64 * KiB });
    expect(response.status).toBe(200);
    expect(response.json()).toEqual(expected);
    expect(runs).toBe(1);
    await app.alive();
  });
});

// =====================================================================================================
// 6. A covered body no parser read (text/plain, with express.json() mounted) is fingerprinted from its
//    bytes and put back: the route still reads it from the stream, and another body is another request.
// =====================================================================================================
describe("6. covered bodies no parser read stay readable", () => {
  const small = "hello";
  const large = "0123456789abcdef".repeat(20 * KiB); // 320 KiB: many chunks, under the 1 MiB cap

  async function check(app: App, runs: () => number) {
    for (const [body, chunked] of [
      [small, undefined],
      [large, 16 * KiB],
    ] as const) {
      const key = randomUUID();
      const before = runs();
      const first = await app.post("/notes", { key, body, type: "text/plain", chunked });
      expect(first.status).toBe(201);
      expect(first.json()).toMatchObject({ length: body.length, sha: sha(body) });
      expectProblem(
        await app.post("/notes", { key, body: `${body}!`, type: "text/plain" }),
        422,
        "key-reused",
      );
      const replay = await app.post("/notes", { key, body, type: "text/plain" });
      expect(replay.header("idempotent-replayed")).toBe("true");
      expect(replay.text()).toBe(first.text());
      expect(runs()).toBe(before + 1);
    }
    await app.alive();
  }

  for (const target of NODE_ROUTE_TARGETS) {
    it(`${target.name}: the route reads the body with for await (const c of req)`, async () => {
      let runs = 0;
      const app = await target.start({
        node: async (req, res) => {
          runs++;
          const text = (await readAll(req)).toString("utf8");
          res.writeHead(201, { "content-type": "application/json" });
          res.end(JSON.stringify({ run: runs, length: text.length, sha: sha(text) }));
        },
      });
      await check(app, () => runs);
    });
  }

  it(`${web.name}: the handler reads the body with request.text()`, async () => {
    let runs = 0;
    const app = await web.start({
      web: async (request) => {
        runs++;
        const text = await request.text();
        return Response.json({ run: runs, length: text.length, sha: sha(text) }, { status: 201 });
      },
    });
    await check(app, () => runs);
  });

  notApplicable(fastify, "Fastify's own text/plain parser reads the body; the unread case is scenario 7");
});

// =====================================================================================================
// 7. Fastify with a content-type parser that leaves the body for the route (like @fastify/multipart):
//    idemkit reads it for the fingerprint and puts it back, so another upload is another request.
// =====================================================================================================
describe("7. Fastify: a body left unread by its content-type parser", () => {
  const boundary = "idemkit-boundary";
  const upload = (content: string) =>
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n` +
    `Content-Type: application/octet-stream\r\n\r\n${content}\r\n--${boundary}--\r\n`;
  const first = upload("x".repeat(200 * KiB));
  const other = upload("y".repeat(200 * KiB));

  it(`${fastify.name}: the route reads request.raw whole; another upload gets 422, the same one a replay`, async () => {
    let runs = 0;
    const app = await fastify.start({
      fastify: (fastifyApp) =>
        fastifyApp.post("/uploads", async (request, reply) => {
          runs++;
          const bytes = await readAll(request.raw);
          return reply
            .code(201)
            .send({ run: runs, size: bytes.length, sha: sha(bytes), body: request.body ?? null });
        }),
    });
    const key = randomUUID();
    const type = `multipart/form-data; boundary=${boundary}`;
    const original = await app.post("/uploads", { key, body: first, type, chunked: 16 * KiB });
    expect(original.status).toBe(201);
    expect(original.json()).toEqual({ run: 1, size: first.length, sha: sha(first), body: null });
    expectProblem(await app.post("/uploads", { key, body: other, type }), 422, "key-reused");
    const replay = await app.post("/uploads", { key, body: first, type });
    expect(replay.status).toBe(201);
    expect(replay.header("idempotent-replayed")).toBe("true");
    expect(replay.text()).toBe(original.text());
    expect(runs).toBe(1);
    await app.alive();
  });
});

// =====================================================================================================
// 8. A client that goes away mid-response: the route's writes go on, its outcome is stored, and a
//    retry after the lease replays it (or gets 410 when the route never ends) — never a second run.
// =====================================================================================================
describe.concurrent("8. a client that disconnects mid-response", () => {
  // Long enough that a loaded machine's stall never ends the owner's lease while its route still writes
  // (CI saw 500 ms run out under load, and a retry then ran the route a second time).
  const LEASE_MS = 1_500;
  const PIECES = ["p1;", "p2;", "p3;", "p4;"];
  const WHOLE = `${PIECES.join("")}end`;

  async function* slowly() {
    for (const piece of PIECES) {
      yield piece;
      await sleep(50);
    }
    yield "end";
  }

  /** The first request goes away after 60 ms; the retry comes well past the lease. */
  async function disconnectThenRetry(app: App) {
    const key = randomUUID();
    const first = await exchange(
      app.port,
      { method: "POST", target: "/stream", headers: { "Idempotency-Key": key } },
      { disconnectAfterMs: 60 },
    );
    expect(first.response).toBeUndefined(); // went away before the response was whole
    await sleep(LEASE_MS + 400);
    const retry = await app.send({ method: "POST", target: "/stream", headers: { "Idempotency-Key": key } });
    const again = await app.send({ method: "POST", target: "/stream", headers: { "Idempotency-Key": key } });
    return { retry, again };
  }

  function expectReplayOfWhole({ retry, again }: { retry: RawResponse; again: RawResponse }) {
    for (const response of [retry, again]) {
      expect(response.status).toBe(201);
      expect(response.header("idempotent-replayed")).toBe("true");
      expect(response.text()).toBe(WHOLE);
    }
  }

  const routes: [string, (runs: { n: number }) => NodeRoute][] = [
    [
      "res.write over time, then res.end",
      (runs) => (_req, res) => {
        runs.n++;
        res.writeHead(201, { "content-type": "text/plain" });
        (async () => {
          for await (const piece of slowly()) {
            if (piece === "end") res.end(piece);
            else res.write(piece);
          }
        })();
      },
    ],
    [
      "a slow stream piped into res",
      (runs) => (_req, res) => {
        runs.n++;
        res.statusCode = 201;
        res.setHeader("content-type", "text/plain");
        Readable.from(slowly()).pipe(res);
      },
    ],
  ];

  for (const target of NODE_ROUTE_TARGETS) {
    for (const [label, route] of routes) {
      it(`${target.name}: ${label}: runs once, the retry replays the whole response`, async () => {
        const runs = { n: 0 };
        const app = await target.start({ leaseMs: LEASE_MS, node: route(runs) });
        expectReplayOfWhole(await disconnectThenRetry(app));
        expect(runs.n).toBe(1);
        await app.alive();
      });
    }

    it(`${target.name}: a route that never ends its body: runs once, retries get 410`, async () => {
      const runs = { n: 0 };
      const app = await target.start({
        leaseMs: LEASE_MS,
        node: (_req, res) => {
          runs.n++;
          res.writeHead(201, { "content-type": "text/plain" });
          res.write("p1;");
        },
      });
      const { retry, again } = await disconnectThenRetry(app);
      for (const response of [retry, again]) {
        expectProblem(response, 410, "response-not-replayable");
        expect(response.json()).toMatchObject({ originalStatus: 201 });
      }
      expect(runs.n).toBe(1);
      await app.alive();
    });
  }

  it(`${fastify.name}: a stream payload: runs once, the retry replays the whole response`, async () => {
    const runs = { n: 0 };
    const app = await fastify.start({
      leaseMs: LEASE_MS,
      fastify: (fastifyApp) =>
        fastifyApp.post("/stream", (_request, reply) => {
          runs.n++;
          return reply.code(201).type("text/plain").send(Readable.from(slowly()));
        }),
    });
    expectReplayOfWhole(await disconnectThenRetry(app));
    expect(runs.n).toBe(1);
    await app.alive();
  });

  it(`${web.name}: a streamed Response body: runs once, the retry replays the whole response`, async () => {
    const runs = { n: 0 };
    const app = await web.start({
      leaseMs: LEASE_MS,
      web: async () => {
        runs.n++;
        const body = new ReadableStream<Uint8Array>({
          async start(controller) {
            for await (const piece of slowly()) controller.enqueue(Buffer.from(piece));
            controller.close();
          },
        });
        return new Response(body, { status: 201, headers: { "content-type": "text/plain" } });
      },
    });
    expectReplayOfWhole(await disconnectThenRetry(app));
    expect(runs.n).toBe(1);
    await app.alive();
  });
});

// =====================================================================================================
// 9. A Web handler's header that Web Headers accept but node:http refuses: the client gets 500, the
//    key is released (nothing invalid stored), and a good response on a later run is stored.
// =====================================================================================================
describe("9. a response header node:http refuses, from a Web handler", () => {
  it(`${web.name}: 500, the process survives, a retry runs again; a good run is stored and replayed`, async () => {
    let runs = 0;
    let goodFrom = Number.POSITIVE_INFINITY;
    const app = await web.start({
      web: async (request) => {
        const run = ++runs;
        const reflected = await request.text(); // "a\u0001b": Web Headers take it, node:http does not
        const value = run >= goodFrom ? "fine" : reflected;
        return new Response(`run ${run}`, { status: 201, headers: { "x-echo": value } });
      },
    });
    const key = randomUUID();
    const bad = () => app.post("/echo", { key, body: "a\u0001b", type: "text/plain" });
    const first = await bad();
    expect(first.status).toBe(500);
    await app.alive();
    const second = await bad();
    expect(second.status).toBe(500);
    expect(runs).toBe(2); // the key was released: the retry ran again
    goodFrom = 3;
    const third = await bad();
    expect([third.status, third.text(), third.header("x-echo")]).toEqual([201, "run 3", "fine"]);
    const replay = await bad();
    expect([replay.status, replay.text(), replay.header("idempotent-replayed")]).toEqual([
      201,
      "run 3",
      "true",
    ]);
    expect(runs).toBe(3);
    await app.alive();
  });

  for (const target of TARGETS.filter((t) => t !== web)) {
    notApplicable(target, "node:http refuses the header in the route's own res.setHeader call");
  }
});

// =====================================================================================================
// 10. The first answer and its replays are the same response: status, body, every header but
//     Date/Set-Cookie/Idempotent-Replayed, a Content-Length on both (no chunked replay). A route's own
//     `Idempotent-Replayed` never reaches the first client.
// =====================================================================================================
describe("10. first answer and replays are identical", () => {
  const NOT_COMPARED = new Set(["date", "set-cookie", "idempotent-replayed"]);
  const comparable = (response: RawResponse) =>
    response.lines
      .filter(([name]) => !NOT_COMPARED.has(name))
      .sort(([a, x], [b, y]) => (a + x < b + y ? -1 : 1));

  function expectSameAnswer(first: RawResponse, replay: RawResponse) {
    expect(replay.status).toBe(first.status);
    expect(replay.statusText).toBe(first.statusText);
    expect(replay.text()).toBe(first.text());
    expect(comparable(replay)).toEqual(comparable(first));
    for (const response of [first, replay]) {
      expect(response.header("content-length")).toBe(String(response.body.length));
      expect(response.header("transfer-encoding")).toBeUndefined();
      expect(response.chunked).toBe(false);
    }
    expect(first.header("idempotent-replayed")).toBeUndefined();
    expect(replay.header("idempotent-replayed")).toBe("true");
  }

  for (const target of TARGETS) {
    it(`${target.name}: same status, body and headers; the route's own Idempotent-Replayed is dropped`, async () => {
      const app = await target.start();
      const key = randomUUID();
      const first = await app.post("/marked", { key });
      expect(first.status).toBe(201);
      expect(first.header("set-cookie")).toBe("session=1; HttpOnly");
      const replay = await app.post("/marked", { key });
      expectSameAnswer(first, replay);
      expect(replay.header("set-cookie")).toBeUndefined();
      expect(app.runs()).toBe(1);
      await app.alive();
    });
  }

  for (const target of [express5, express4Target]) {
    it(`${target.name}: res.status(201).json(): the first answer and its replay are identical`, async () => {
      let runs = 0;
      const app = await target.start({
        express: (expressApp) =>
          expressApp.post("/json", (_req, res) => void res.status(201).json({ run: ++runs })),
      });
      const key = randomUUID();
      const first = await app.post("/json", { key });
      expect(first.header("etag")).toBeDefined();
      expectSameAnswer(first, await app.post("/json", { key }));
      expect(runs).toBe(1);
      await app.alive();
    });

    it(`${target.name}: res.status(201).json() then next(error): the first client gets the 201, as replays do`, async () => {
      let runs = 0;
      const app = await target.start({
        express: (expressApp) =>
          expressApp.post("/error-after-reply", (_req, res, next) => {
            res.status(201).json({ run: ++runs });
            next(new Error("a bug after the reply"));
          }),
      });
      const key = randomUUID();
      const first = await app.post("/error-after-reply", { key });
      const replay = await app.post("/error-after-reply", { key });
      for (const response of [first, replay]) {
        expect([
          response.status,
          response.statusText,
          response.header("content-type"),
          response.json(),
        ]).toEqual([201, "Created", "application/json; charset=utf-8", { run: 1 }]);
        expect(response.header("x-error-handler")).toBeUndefined(); // the error handler's header
      }
      expect(replay.header("idempotent-replayed")).toBe("true");
      expect(runs).toBe(1);
      await app.alive();
    });

    it(`${target.name}: res.status(201).json() then next(error): the first answer is framed like its replay`, async () => {
      let runs = 0;
      const app = await target.start({
        express: (expressApp) =>
          expressApp.post("/error-after-reply", (_req, res, next) => {
            res.status(201).json({ run: ++runs });
            next(new Error("a bug after the reply"));
          }),
      });
      const key = randomUUID();
      const first = await app.post("/error-after-reply", { key });
      expectSameAnswer(first, await app.post("/error-after-reply", { key }));
      expect(runs).toBe(1);
      await app.alive();
    });

    it(`${target.name}: res.json() then a handler that changes only headers: the first client gets what was stored`, async () => {
      let runs = 0;
      const app = await target.start({
        express: (expressApp) =>
          expressApp.post(
            "/headers-after-reply",
            (_req, res, next) => {
              res.status(201).json({ run: ++runs });
              next();
            },
            // Same status, same number of headers: one replaced, one removed, one added.
            (_req, res) => {
              res.set("content-type", "text/plain");
              res.removeHeader("etag");
              res.set("x-late", "yes");
            },
          ),
      });
      const key = randomUUID();
      const first = await app.post("/headers-after-reply", { key });
      const replay = await app.post("/headers-after-reply", { key });
      expectSameAnswer(first, replay);
      expect([first.status, first.header("content-type"), first.header("x-late")]).toEqual([
        201,
        "application/json; charset=utf-8",
        undefined,
      ]);
      expect(first.header("etag")).toBeDefined();
      expect(runs).toBe(1);
      await app.alive();
    });
  }
});

// =====================================================================================================
// 11. `renderProblem` shapes every answer idemkit makes itself, on every integration; Retry-After
//     stays on 409 and 503.
// =====================================================================================================
describe("11. renderProblem shapes idemkit's own answers", () => {
  const renderProblem = (p: Problem) => ({
    status: p.status,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ error: { type: p.type, message: p.detail } }),
  });

  function expectRendered(response: RawResponse, status: number, type: string) {
    expect(response.status, response.text()).toBe(status);
    expect(response.header("content-type")).toBe("application/json");
    const body = response.json();
    expect(Object.keys(body)).toEqual(["error"]);
    expect(body.error.type).toBe(type);
    expect(typeof body.error.message).toBe("string");
  }

  /** A store that is down: every claim rejects. */
  function downStore(): IdempotencyStore {
    const inner = createMemoryStore();
    return {
      claim: () => Promise.reject(new Error("ECONNREFUSED")),
      complete: inner.complete.bind(inner),
      release: inner.release.bind(inner),
      extend: inner.extend.bind(inner),
      get: inner.get.bind(inner),
      delete: inner.delete.bind(inner),
    } as IdempotencyStore;
  }

  for (const target of TARGETS) {
    it(`${target.name}: 400, 409, 422, 413 and 503 in the app's envelope`, async () => {
      const http = { renderProblem, maxRequestBytes: 1024 };
      const app = await target.start({ http });
      expectRendered(await app.post("/orders"), 400, "key-missing");
      expectRendered(await app.post("/orders", { key: "a, b" }), 400, "key-invalid");

      const key = randomUUID();
      // The original holds the key until the duplicate has its answer: no timing decides the 409.
      const open = closeGate();
      const original = app.post("/gated", { key });
      await vi.waitFor(() => expect(app.runs(), "the original request began its run").toBe(1), {
        timeout: 10_000,
        interval: 10,
      });
      const conflict = await app.post("/gated", { key });
      open();
      expectRendered(conflict, 409, "request-in-progress");
      expect(conflict.header("retry-after")).toBe("1");
      expect((await original).status).toBe(201);
      expectRendered(await app.post("/gated", { key, body: '{"other":1}' }), 422, "key-reused");
      expectRendered(
        await app.post("/orders", { key: randomUUID(), body: overCap }),
        413,
        "request-too-large",
      );
      expect(app.runs()).toBe(1);
      await app.alive();

      const down = await target.start({ http, store: downStore() });
      const unavailable = await down.post("/orders", { key: randomUUID() });
      expectRendered(unavailable, 503, "store-unavailable");
      expect(unavailable.header("retry-after")).toBe("2");
      expect(down.runs()).toBe(0);
    });
  }
});

// =====================================================================================================
// 12. Form bodies a parser turned into fields are fingerprinted as values: the same fields in another
//     order are the same request (replay), other values another (422).
// =====================================================================================================
describe("12. urlencoded form bodies", () => {
  const form = "application/x-www-form-urlencoded";
  for (const target of [express5, express4Target, fastify]) {
    const parser = target === fastify ? "a URLSearchParams parser" : "express.urlencoded";
    it(`${target.name} (${parser}): fields in another order replay, other values get 422`, async () => {
      const app = await target.start();
      const key = randomUUID();
      const first = await app.post("/forms", { key, body: "amount=10&currency=eur", type: form });
      expect(first.status).toBe(201);
      expect(first.json()).toMatchObject({ body: { amount: "10", currency: "eur" } });
      const reordered = await app.post("/forms", { key, body: "currency=eur&amount=10", type: form });
      expect(reordered.header("idempotent-replayed")).toBe("true");
      expect(reordered.text()).toBe(first.text());
      expectProblem(
        await app.post("/forms", { key, body: "amount=11&currency=eur", type: form }),
        422,
        "key-reused",
      );
      expect(app.runs()).toBe(1);
      await app.alive();
    });
  }
  for (const target of [nodeListener, nodeMiddleware, web]) {
    notApplicable(target, "no form parser: the body is fingerprinted as its bytes");
  }
});

// =====================================================================================================
// 13. Scope: every entry point refuses to be created without one, and two clients (API keys) sending
//     the same idempotency key and body never see each other's answer.
// =====================================================================================================
describe("13. scope", () => {
  for (const target of TARGETS) {
    it(`${target.name}: created without a scope, it throws a TypeError naming "scope"`, async () => {
      const idem = createIdempotency({ store: createMemoryStore() });
      let thrown: unknown;
      try {
        await target.createWithoutScope(idem);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(TypeError);
      expect((thrown as Error).message).toMatch(/scope/);
    });
  }

  it("Express: the options form without a scope throws too", () => {
    expect(() => expressIdempotency({ store: createMemoryStore() })).toThrow(/scope/);
  });

  for (const target of TARGETS) {
    it(`${target.name}: two API keys with the same idempotency key and body each run once and replay their own`, async () => {
      const app = await target.start({ scope: (header) => header("x-api-key") });
      const key = randomUUID();
      const as = (apiKey: string) => app.post("/charges", { key, headers: [["X-Api-Key", apiKey]] });
      const alice = await as("sk_alice");
      const bob = await as("sk_bob");
      expect([alice.status, alice.json().run]).toEqual([201, 1]);
      expect([bob.status, bob.json().run]).toEqual([201, 2]);
      for (const [apiKey, original] of [
        ["sk_alice", alice],
        ["sk_bob", bob],
      ] as const) {
        const replay = await as(apiKey);
        expect(replay.header("idempotent-replayed")).toBe("true");
        expect(replay.text()).toBe(original.text());
      }
      expect(app.runs()).toBe(2);
      await app.alive();
    });
  }
});
