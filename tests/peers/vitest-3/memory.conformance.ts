// Run by tests/peers/vitest-3.test.ts with the vitest 3 binary (not collected by the workspace's vitest 4
// run: its name does not end in .test.ts). The published conformance suite, from its built package,
// against core's memory store.
import { runStoreConformance } from "@idemkit/conformance";
import { createMemoryStore } from "@idemkit/core";

// Memory stores share nothing across instances, so every "instance" is the same store.
const shared = createMemoryStore();
const sweeper = { token: "sweeper", fingerprint: "", leaseMs: 60_000, retentionMs: 0 };
runStoreConformance({
  name: "memory (under vitest 3)",
  createStore: () => shared,
  // The memory store sweeps a few entries on every claim: enough claims of one key of its own make it
  // go round the whole map once, forgetting every entry past its keep-until.
  purge: async (store) => {
    for (let i = 0, n = shared.size(); i <= n; i++) await store.claim("conformance:sweeper", sweeper);
  },
});
