import { createMemoryStore } from "@idemkit/core";
import { runStoreConformance } from "./index.js";

// The suite tests itself against the reference store. Memory stores share nothing across
// instances, so every "instance" is the same store: the races then run within one event loop.
const shared = createMemoryStore();
const sweeper = { token: "sweeper", fingerprint: "", leaseMs: 60_000, retentionMs: 0 };
runStoreConformance({
  name: "memory",
  createStore: () => shared,
  // The memory store sweeps a few entries on every claim: enough claims (of one key of its own, live
  // after the first) make it go round the whole map once, forgetting every entry past its keep-until.
  purge: async (store) => {
    for (let i = 0, n = shared.size(); i <= n; i++) await store.claim("conformance:sweeper", sweeper);
  },
});
