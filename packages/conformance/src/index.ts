export { skipUnlessAvailable } from "./availability.js";
export { runStoreConformance, type StoreConformanceOptions } from "./run-store-conformance.js";
