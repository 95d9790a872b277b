import { Readable } from "node:stream";
import {
  attachBodyBytes,
  attachedBodyBytes,
  createIdempotency,
  type HandlerContext,
  type HttpOptions,
  type Idempotency,
  type IdempotencyOptions,
} from "@idemkit/core";
import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import { EMPTY, toWebRequest } from "./to-web-request.js";

export interface FastifyIdempotencyRouteOptions extends Omit<HttpOptions, "scope"> {
  /** Tenant, user or API-key id the key belongs to, read from the Fastify request. */
  scope?: (request: FastifyRequest) => string | undefined | Promise<string | undefined>;
}

export type FastifyIdempotencyOptions = FastifyIdempotencyRouteOptions &
  ({ idempotency: Idempotency } | Omit<IdempotencyOptions, "scope">);

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

/** What a request in flight through the plugin is waiting for. */
interface InFlight {
  /** Hands the route's reply to core, which stores it (or not) and answers with what to send. */
  deliver: (response: Response) => Promise<Response>;
}

const inFlight = new WeakMap<FastifyRequest, InFlight>();
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

const plugin: FastifyPluginCallback<FastifyIdempotencyOptions> = (fastify, options, done) => {
  // The Fastify-flavoured `scope` is applied below, over the request Fastify parsed.
  const base =
    "idempotency" in options ? options.idempotency : createIdempotency({ ...options, scope: undefined });
  const webToFastify = new WeakMap<Request, FastifyRequest>();
  const perRoute = new WeakMap<object, Idempotency>();
  const configure = (overrides: FastifyIdempotencyRouteOptions) => {
    const { scope, ...http } = overrides;
    return {
      ...http,
      ...(scope && { scope: (request: Request) => scope(webToFastify.get(request)!) }),
    };
  };
  const { idempotency: _given, ...ownOptions } = options as { idempotency?: Idempotency };
  const pluginLevel = base.withOptions(configure(ownOptions as FastifyIdempotencyRouteOptions));
  const instanceFor = (request: FastifyRequest): Idempotency | undefined => {
    const config = request.routeOptions.config?.idempotency;
    if (config === false) return undefined;
    if (config === undefined) return pluginLevel;
    let idem = perRoute.get(config);
    if (!idem) {
      idem = pluginLevel.withOptions(configure(config));
      perRoute.set(config, idem);
    }
    return idem;
  };

  if (!fastify.hasDecorator("idempotency")) fastify.decorate("idempotency", base);
  if (!fastify.hasRequestDecorator("idempotency")) fastify.decorateRequest("idempotency", null);

  // After parsing and validation, before the route: claim, or answer right away (replay, 409, 422…).
  fastify.addHook("preHandler", (request, reply, next) => {
    const idem = instanceFor(request);
    if (!idem) return next();
    const web = toWebRequest(request);
    webToFastify.set(web, request);
    let proceeded = false;
    let answered!: (response: Response) => void;
    const answer = new Promise<Response>((resolve) => {
      answered = resolve;
    });
    const outcome = idem.handle(web, (_request, context) => {
      request.idempotency = context;
      proceeded = true;
      inFlight.set(request, {
        deliver: (response) => {
          answered(response);
          return outcome;
        },
      });
      next(); // the route runs now; its reply comes back through onSend
      return answer;
    });
    // A hijacked reply (`reply.hijack()`, writing to `reply.raw`) never reaches onSend: when its
    // connection ends, fail the body, so core neither stores nor releases it (the lease runs out).
    reply.raw.once("close", () => {
      const flight = inFlight.get(request);
      if (!flight || !reply.sent) return;
      inFlight.delete(request);
      const broken = new ReadableStream({
        start: (c) => c.error(new Error("The reply was hijacked; idemkit could not see it")),
      });
      flight.deliver(new Response(broken, { status: reply.raw.statusCode })).catch(() => {});
    });
    outcome.then(
      (response) => {
        if (!proceeded) send(reply, response);
      },
      (error: unknown) => {
        if (!proceeded) next(error as Error);
      },
    );
  });

  // The route's serialized reply, before a byte is sent: core stores it, then it goes out.
  fastify.addHook("onSend", async (request, reply, payload) => {
    const flight = inFlight.get(request);
    if (!flight) return payload;
    inFlight.delete(request);
    const status = reply.statusCode;
    const init = { status, headers: toHeaders(reply.getHeaders()) };
    const whole = wholeBytes(payload);
    let routeReply: Response;
    if (whole !== undefined) {
      // A serialized reply is already bytes: no Web stream, the bytes ride along (attachBodyBytes).
      routeReply = attachBodyBytes(new Response(null, init), NULL_BODY_STATUSES.has(status) ? EMPTY : whole);
    } else routeReply = new Response(NULL_BODY_STATUSES.has(status) ? null : toBody(payload), init);
    const response = await flight.deliver(routeReply);
    if (response.body === null) return payloadOf(response);
    return Readable.fromWeb(response.body as import("node:stream/web").ReadableStream<Uint8Array>);
  });

  done();
};

function send(reply: FastifyReply, response: Response): void {
  reply.code(response.status);
  response.headers.forEach((value, name) => {
    if (name !== "set-cookie") reply.header(name, value);
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) reply.header("set-cookie", cookies);
  if (response.body === null) reply.send(payloadOf(response) ?? undefined);
  else response.arrayBuffer().then((bytes) => reply.send(Buffer.from(bytes)));
}

/** The payload of a reply Fastify serialized whole (a string or bytes), as bytes; else `undefined`. */
function wholeBytes(payload: unknown): Uint8Array | undefined {
  if (payload === null || payload === undefined) return EMPTY;
  if (typeof payload === "string") return Buffer.from(payload);
  if (payload instanceof Uint8Array) return payload;
  return undefined;
}

/** The bytes a body-less response carries (attachBodyBytes) as a payload, or `null` for no body. */
function payloadOf(response: Response): Buffer | null {
  const bytes = attachedBodyBytes(response);
  if (bytes === undefined || NULL_BODY_STATUSES.has(response.status)) return null;
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function toBody(payload: unknown): BodyInit | null {
  if (payload === null || payload === undefined) return null;
  if (typeof payload === "string") return payload;
  if (payload instanceof Uint8Array) return payload as Uint8Array<ArrayBuffer>;
  if (payload instanceof Readable) return Readable.toWeb(payload) as ReadableStream<Uint8Array>;
  if (payload instanceof ReadableStream) return payload as ReadableStream<Uint8Array>;
  return String(payload);
}

function toHeaders(outgoing: ReturnType<FastifyReply["getHeaders"]>): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(outgoing)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, String(v));
  }
  return headers;
}

/**
 * The idemkit Fastify plugin. Register it where it should apply (it follows Fastify's encapsulation:
 * routes of that context and its children), tune a route with `config: { idempotency: { … } }` or
 * leave one out with `config: { idempotency: false }`.
 */
export const idempotency = fp(plugin, { fastify: "5.x", name: "@idemkit/fastify" });
