import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // One file at a time: two cores are busy enough with one conformance run.
    fileParallelism: false,
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
