import { runStoreConformance } from "../index.js";
import { createMemoryStore, limited, sweep } from "./harness.js";

// The suite against the reference store. Memory stores share nothing across instances, so every
// "instance" is the same store: the races then run within one event loop.
const shared = createMemoryStore();
runStoreConformance({
  name: "memory",
  createStore: () => shared,
  purge: () => sweep(shared),
});

// A store with a hard outcome limit (as DynamoDB's 400 KB item): the larger round trips are skipped and
// the over-limit check runs. Without the optional list and ping, whose checks are skipped (they would
// fail on a store without them).
const small = createMemoryStore();
runStoreConformance({
  name: "memory with a 64 KiB outcome limit, without list and ping",
  createStore: () => {
    const { list, ping, ...contract } = limited(small, 64 * 1024);
    return contract;
  },
  purge: () => sweep(small),
  limits: { outcomeBytes: 64 * 1024 },
});
