import { createServer } from "node:http";
import { createIdempotency, createMemoryStore } from "@idemkit/core";
import { createRequestListener, idempotentListener } from "@idemkit/node";
import { describeHttpBehaviour } from "./behaviour-suite.js";
import { loopback, sendTo } from "./loopback.js";
import { nodeRoute, nodeScope } from "./web-route.js";

const servers = loopback();

// A Web handler on plain node:http through the Web bridge (idem.wrap), over real sockets…
describeHttpBehaviour({
  name: "node:http Web bridge on the memory store",
  createStore: () => createMemoryStore(),
  mount: async (options, handler) => {
    const idem = createIdempotency(options);
    const server = createServer(createRequestListener(idem.wrap(handler), { onError: () => {} }));
    return sendTo(await servers.listen(server));
  },
});

// …and a Node-style listener through the byte-level bridge (no Web objects on idemkit's side).
describeHttpBehaviour({
  name: "node:http listener on the memory store",
  createStore: () => createMemoryStore(),
  mount: async (options, handler) => {
    const { scope, fingerprint: _unused, ...rest } = options;
    const idem = createIdempotency(rest);
    const listener = idempotentListener(
      idem,
      { scope: nodeScope(scope), onError: () => {} },
      (req, res, context) => nodeRoute(handler, () => context)(req, res),
    );
    return sendTo(await servers.listen(createServer(listener)));
  },
});
