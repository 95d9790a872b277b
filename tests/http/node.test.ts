import { createServer } from "node:http";
import { createIdempotency, createMemoryStore } from "@idemkit/core";
import { createRequestListener } from "@idemkit/node";
import { describeHttpBehaviour } from "./behaviour-suite.js";
import { loopback, sendTo } from "./loopback.js";

const servers = loopback();

// Plain node:http through the @idemkit/node bridge, over real sockets.
describeHttpBehaviour({
  name: "node:http bridge on the memory store",
  createStore: () => createMemoryStore(),
  mount: async (options, handler) => {
    const idem = createIdempotency(options);
    const server = createServer(createRequestListener(idem.wrap(handler), { onError: () => {} }));
    return sendTo(await servers.listen(server));
  },
});
