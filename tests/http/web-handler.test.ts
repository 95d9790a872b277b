import { createIdempotency, createMemoryStore } from "@idemkit/core";
import { describeHttpBehaviour } from "./behaviour-suite.js";

// The core Web-standard handler, called directly with Request objects.
describeHttpBehaviour({
  name: "Web handler on the memory store",
  createStore: () => createMemoryStore(),
  mount: (options, handler) => createIdempotency(options).wrap(handler),
});
