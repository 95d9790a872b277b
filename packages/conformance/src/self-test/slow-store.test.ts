import { describe, expect, it } from "vitest";
import { runStoreConformance } from "../index.js";
import { createMemoryStore, delayed, sweep } from "./harness.js";

// Not over-strict: a correct store that takes 20 ms per call (10 ms each way, as across a network)
// passes the whole suite. Only the expiry checks use the short lease, and only on what they wait out.
const PER_CALL_MS = 20;
const shared = createMemoryStore();
runStoreConformance({
  name: `memory, ${PER_CALL_MS} ms per call`,
  createStore: () => delayed(shared, PER_CALL_MS),
  purge: () => sweep(shared),
});

describe("the delaying wrapper", () => {
  it(`adds ${PER_CALL_MS} ms to every call`, async () => {
    const store = delayed(createMemoryStore(), PER_CALL_MS);
    const started = performance.now();
    for (let i = 0; i < 5; i++) await store.get(`delay-${i}`);
    // setTimeout never fires early (at worst 1 ms early by rounding): 5 calls take at least 5 × 20 ms.
    expect(performance.now() - started).toBeGreaterThanOrEqual(5 * PER_CALL_MS - 5);
  });
});
