import { PassThrough, Readable } from "node:stream";
import {
  createIdempotency,
  type HandlerContext,
  type HttpAnswer,
  type HttpEntry,
  type HttpOptions,
  type Idempotency,
  type IdempotencyInstanceOptions,
  type OwnedRun,
  REPLAYED_HEADER,
  type ResponseHeaders,
  splitOptions,
} from "@idemkit/core";
import {
  answerHeaders,
  nodeBody,
  nodeExchange,
  type ReadUpTo,
  readUpTo,
  type WatchedBody,
  watchBody,
  writeAnswer,
} from "@idemkit/node";
import type { FastifyInstance, FastifyPluginCallback, FastifyReply, FastifyRequest } from "fastify";
import fp from "fastify-plugin";

/** Core's HTTP options, with `scope` and `fingerprint` reading the Fastify request. */
export type FastifyIdempotencyRouteOptions = HttpOptions<FastifyRequest>;

export type FastifyIdempotencyOptions = FastifyIdempotencyRouteOptions &
  ({ idempotency: Idempotency } | IdempotencyInstanceOptions);

declare module "fastify" {
  interface FastifyContextConfig {
    /** Per-route idemkit options, or `false` to leave the route out. */
    idempotency?: FastifyIdempotencyRouteOptions | false;
  }
  interface FastifyRequest {
    /** Key, fence and lease signal while an idempotent route runs; `null` elsewhere. */
    idempotency: HandlerContext | null;
  }
  interface FastifyInstance {
    /** The idemkit instance the plugin registered in this context. */
    idempotency: Idempotency;
  }
}

/** A request whose key this process owns, until its reply has been stored. */
class Flight {
  constructor(
    readonly run: OwnedRun,
    /** Headers the reply had before the route (CORS, security headers): not stored. */
    readonly inherited: ResponseHeaders,
  ) {}
}

/**
 * Where a request stands with the plugin, in a request decorator of its own (set in every request's
 * constructor, so no request changes shape; three WeakMaps cost more a request):
 * - `null` (or absent): not handled yet;
 * - `HANDLED`: a registration handles it (registered at the root and in a child context, say, the
 *   first one does), and owns no key for it (yet);
 * - a `Flight`: its key is owned, until its reply comes through onSend;
 * - a `Promise`: its reply is being stored, for an async route that called `reply.send` without
 *   returning it.
 * The key is shared by every copy of this module (its ESM and CommonJS builds both registered): the
 * first registration to meet a request handles it, whichever copy it came from; another copy's values
 * are never taken for this one's (`instanceof`).
 */
const STATE: unique symbol = Symbol.for("@idemkit/fastify request state");
const HANDLED = Object.freeze({});
type State = null | typeof HANDLED | Flight | Promise<unknown>;
type WithState = FastifyRequest & { [STATE]: State };
const EMPTY = new Uint8Array(0);

const plugin: FastifyPluginCallback<FastifyIdempotencyOptions> = (fastify, options, done) => {
  // A bad option (no scope, a misspelt name) fails the registration, not the process.
  try {
    setUp(fastify, options);
  } catch (error) {
    return done(error as Error);
  }
  done();
};

function setUp(fastify: FastifyInstance, options: FastifyIdempotencyOptions): void {
  let idem: Idempotency;
  let http: FastifyIdempotencyRouteOptions;
  if ("idempotency" in options) {
    const { idempotency: given, ...rest } = options;
    idem = given;
    http = rest;
  } else {
    const split = splitOptions<FastifyIdempotencyRouteOptions>(options);
    idem = createIdempotency(split.instance);
    http = split.http;
  }
  const where = "@idemkit/fastify";
  // The route's template, prefixes included (`/api/orders/:id`), for events.
  const hooks = { route: (request: FastifyRequest) => request.routeOptions.url };
  const pluginEntry = idem.exchange(http, where, hooks);
  const perRoute = new WeakMap<object, HttpEntry<FastifyRequest>>();
  const entryFor = (request: FastifyRequest): HttpEntry<FastifyRequest> | undefined => {
    const config = request.routeOptions.config?.idempotency;
    if (config === false) return undefined;
    if (config === undefined) return pluginEntry;
    let entry = perRoute.get(config);
    if (!entry) {
      entry = idem.exchange({ ...http, ...config }, where, hooks);
      perRoute.set(config, entry);
    }
    return entry;
  };

  if (!fastify.hasDecorator("idempotency")) fastify.decorate("idempotency", idem);
  if (!fastify.hasRequestDecorator("idempotency")) fastify.decorateRequest("idempotency", null);
  if (!fastify.hasRequestDecorator(STATE)) fastify.decorateRequest(STATE, null);

  // After parsing and validation, before the route: claim, or answer right away (replay, 409, 422…).
  fastify.addHook("preHandler", (request, reply, next) => {
    const entry = entryFor(request);
    // `undefined` too: a context created before the plugin decorated its parent has requests without the
    // decorator (Fastify adds a parent's hooks to existing children, not its request decorators).
    if (!entry?.covers(request.method) || (request as WithState)[STATE] != null) return next();
    (request as WithState)[STATE] = HANDLED;
    const inherited = reply.getHeaders() as ResponseHeaders;
    let watched: WatchedBody;
    let begun: ReturnType<typeof entry.begin>;
    try {
      watched = watchBody(
        request.raw,
        nodeBody(request.raw, () => request.body),
      );
      begun = entry.begin(nodeExchange(request.raw, watched.body, request));
    } catch (error) {
      return next(error as Error);
    }
    begun.then(
      (outcome) => {
        if (outcome.kind === "pass") return next();
        if (outcome.kind === "answer") {
          // Sent as it is: onSend hooks already shaped a stored reply once, and must not again.
          reply.hijack();
          return writeAnswer(reply.raw, outcome.answer, {
            inherited,
            closeConnection: watched.stoppedEarly(),
          });
        }
        request.idempotency = outcome.context;
        const flight = new Flight(outcome, inherited);
        (request as WithState)[STATE] = flight;
        watchHijack(request as WithState, reply, flight);
        next(); // the route runs now; its reply comes back through onSend
      },
      (error: unknown) => next(error as Error),
    );
  });

  // The route's serialized reply, before a byte is sent: core stores it, then it goes out.
  fastify.addHook("onSend", (request, reply, payload) => {
    const state = (request as WithState)[STATE];
    if (state instanceof Flight) {
      const stored = storeReply(state, reply, payload);
      (request as WithState)[STATE] = stored;
      return stored;
    }
    // An async route that called `reply.send(x)` without returning `reply`: while x is being stored,
    // Fastify sends again with nothing. That second send is dropped; the first goes out.
    if (payload === undefined && state instanceof Promise) return new Promise<never>(() => {});
    return Promise.resolve(payload);
  });
}

/** Stores the route's reply through core and says what to send: the reply, or core's answer. */
async function storeReply({ run, inherited }: Flight, reply: FastifyReply, sent: unknown): Promise<unknown> {
  const payload = webResponsePayload(reply, sent);
  const head = {
    status: reply.statusCode,
    statusText: reply.raw.statusMessage || undefined,
    headers: reply.getHeaders() as ResponseHeaders,
    inherited,
  };
  let read: ReadUpTo | undefined;
  try {
    if (!run.streams(head)) {
      // Bytes or text (what Fastify's serializers give) are read at once; only a stream is awaited.
      read = bytesOf(payload) ?? (await readUpTo(asReadable(payload), run.maxResponseBytes));
    }
  } catch (error) {
    // The reply's stream failed: the work ran, so the key is held (410 on retry), never re-run.
    await run.finishUnreplayable(head, "incomplete").catch(() => {});
    throw error;
  }
  try {
    let instead: HttpAnswer | undefined;
    if (read === undefined) {
      instead = await run.finishUnreplayable(head, "streamed");
      if (!instead) return ownPayload(reply, payload);
    } else if (read.rest !== undefined) {
      instead = await run.finishUnreplayable(head, "oversized");
      if (!instead) return ownPayload(reply, read.rest);
      read.rest.destroy();
    } else {
      // A literal, not `{ ...head, body }`: core's reads of a spread copy miss V8's inline caches.
      const { status, statusText, headers } = head;
      instead = await run.finish({ status, statusText, headers, body: read.bytes, inherited });
      // A string goes back as the string it was: Fastify writes it with the head in one go.
      if (!instead) return ownPayload(reply, typeof payload === "string" ? payload : asBuffer(read.bytes));
    }
    return answerPayload(reply, instead, inherited);
  } catch (error) {
    // An option threw after the work ran: neither stored nor released, the key frees with its lease.
    run.abandon();
    throw error;
  }
}

/**
 * A Web `Response` sent as the reply (`reply.send(new Response(…))`): its status and headers are put
 * on the reply now (Fastify would, after the hooks) and its body is the payload.
 */
function webResponsePayload(reply: FastifyReply, payload: unknown): unknown {
  if (!(payload instanceof Response)) return payload;
  reply.code(payload.status);
  for (const [name, value] of payload.headers) reply.header(name, value);
  return payload.body;
}

/** A hijacked reply (`reply.hijack()`) never reaches onSend: once it ends, the work ran, so the key is held. */
function watchHijack(request: WithState, reply: FastifyReply, flight: Flight): void {
  reply.raw.once("close", () => {
    if (request[STATE] !== flight || !reply.sent) return;
    request[STATE] = HANDLED;
    const head = {
      status: reply.raw.statusCode,
      headers: reply.raw.getHeaders() as ResponseHeaders,
      inherited: flight.inherited,
    };
    flight.run.finishUnreplayable(head, "incomplete").catch(() => {});
  });
}

/** The payload as bytes when it is not a stream: nothing, bytes or text. */
function bytesOf(payload: unknown): ReadUpTo | undefined {
  if (payload === null || payload === undefined) return { bytes: EMPTY };
  if (payload instanceof Uint8Array) return { bytes: payload };
  if (isStream(payload)) return undefined;
  return { bytes: Buffer.from(String(payload)) };
}

/** A stream as Fastify sees one: node's, a Web stream, or anything it would pipe (readable-stream's). */
function isStream(payload: object): boolean {
  return (
    payload instanceof Readable ||
    payload instanceof ReadableStream ||
    typeof (payload as { pipe?: unknown }).pipe === "function"
  );
}

function asReadable(stream: unknown): Readable | ReadableStream {
  if (stream instanceof Readable || stream instanceof ReadableStream) return stream;
  return (stream as NodeJS.ReadableStream).pipe(new PassThrough());
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

/** The route's own payload, without a replay marker it may have set. */
function ownPayload(reply: FastifyReply, payload: unknown): unknown {
  // Only when set: Fastify's removeHeader deletes a property, which slows every later header call.
  if (reply.hasHeader(REPLAYED_HEADER)) reply.removeHeader(REPLAYED_HEADER);
  return payload;
}

/** Puts an answer idemkit made on the reply in place of the route's; returns its payload. */
function answerPayload(reply: FastifyReply, answer: HttpAnswer, inherited: ResponseHeaders): Buffer {
  for (const name of Object.keys(reply.getHeaders())) reply.removeHeader(name);
  reply.code(answer.status);
  if (answer.statusText) reply.raw.statusMessage = answer.statusText;
  reply.headers({ ...(inherited as Record<string, string | string[]>), ...answerHeaders(answer) });
  return asBuffer(answer.body);
}

/**
 * The idemkit Fastify plugin. Register it where it should apply (it follows Fastify's encapsulation:
 * routes of that context and its children), tune a route with `config: { idempotency: { … } }` or
 * leave one out with `config: { idempotency: false }`.
 */
export const idempotency = fp(plugin, { fastify: "5.x", name: "@idemkit/fastify" });
