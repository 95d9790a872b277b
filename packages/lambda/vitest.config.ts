import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // Two cores, shared: one file at a time.
    fileParallelism: false,
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
