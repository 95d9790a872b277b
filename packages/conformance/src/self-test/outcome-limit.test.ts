import { describe, expect, it } from "vitest";
import { runStoreConformance } from "../index.js";
import { createMemoryStore } from "./harness.js";

// A declared outcome limit is checked when the suite is set up: a limit of a few hundred bytes (or a
// NaN, which skipped every large round trip) would let a store that keeps almost nothing pass.
describe("limits.outcomeBytes", () => {
  const store = createMemoryStore();
  it.each([Number.NaN, 0, -1, 1.5, 256, 64 * 1024 - 1, Number.POSITIVE_INFINITY, "65536"])(
    "%j is refused before any test is registered",
    (outcomeBytes) => {
      expect(() =>
        runStoreConformance({
          name: "memory",
          createStore: () => store,
          limits: { outcomeBytes: outcomeBytes as number },
        }),
      ).toThrow(/limits\.outcomeBytes must be a whole number of bytes, at least 65536/);
    },
  );
});
