export { skipUnlessAvailable } from "./availability.js";
export { runStoreConformance, type StoreConformanceOptions } from "./run-store-conformance.js";
export { throughSynchronousCalls } from "./synchronous-view.js";
