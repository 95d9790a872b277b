import { runStoreConformance } from "../index.js";
import { createMemoryStore, sweep } from "./harness.js";

// The suite against the reference store. Memory stores share nothing across instances, so every
// "instance" is the same store: the races then run within one event loop.
const shared = createMemoryStore();
runStoreConformance({
  name: "memory",
  createStore: () => shared,
  purge: () => sweep(shared),
});
