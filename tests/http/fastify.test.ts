import { createMemoryStore, type IdempotentHandler } from "@idemkit/core";
import { idempotency } from "@idemkit/fastify";
import Fastify, { type FastifyReply, type FastifyRequest } from "fastify";
import { describeHttpBehaviour } from "./behaviour-suite.js";
import { loopback, sendTo } from "./loopback.js";

const servers = loopback();

function webHeaders(request: FastifyRequest): Headers {
  const headers = new Headers();
  const raw = request.raw.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  return headers;
}

/** A Fastify route that runs the suite's Web handler on the body Fastify parsed. */
function fastifyRoute(handler: IdempotentHandler) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const headers = webHeaders(request);
    const body =
      request.body == null
        ? undefined
        : request.body instanceof Uint8Array || typeof request.body === "string"
          ? (request.body as string | Uint8Array<ArrayBuffer>)
          : JSON.stringify(request.body);
    const response = await handler(
      new Request(`http://${request.host}${request.url}`, { method: request.method, headers, body }),
      request.idempotency ?? { key: undefined, fence: undefined, signal: new AbortController().signal },
    );
    reply.code(response.status);
    response.headers.forEach((value, name) => {
      if (name !== "set-cookie") reply.header(name, value);
    });
    const cookies = response.headers.getSetCookie();
    if (cookies.length > 0) reply.header("set-cookie", cookies);
    // A Web body is sent as the stream it is (Fastify 5 sends Web streams; SSE flows through).
    return reply.send(response.body);
  };
}

describeHttpBehaviour({
  name: "Fastify plugin on the memory store",
  createStore: () => createMemoryStore(),
  mount: async (options, handler) => {
    const app = Fastify();
    // JSON is parsed by Fastify; other bodies arrive as bytes. idemkit reads neither a second time.
    app.addContentTypeParser("*", { parseAs: "buffer" }, (_request, body, done) => done(null, body));
    // The suite's scope reads a Web Request; the plugin's scope gets the Fastify request.
    const { scope, fingerprint: _unused, ...rest } = options;
    await app.register(idempotency, {
      ...rest,
      scope:
        scope === "global" || scope === undefined
          ? scope
          : (request: FastifyRequest) =>
              scope(new Request(`http://${request.host}${request.url}`, { headers: webHeaders(request) })),
    });
    app.route({
      method: ["GET", "POST", "PUT", "PATCH", "DELETE"],
      url: "/*",
      handler: fastifyRoute(handler),
    });
    await app.listen({ port: 0, host: "127.0.0.1" });
    servers.track(app);
    const { port } = app.server.address() as { port: number };
    return sendTo(`http://127.0.0.1:${port}`);
  },
});
