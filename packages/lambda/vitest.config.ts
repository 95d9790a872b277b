import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // Two cores, shared: one file at a time.
    fileParallelism: false,
    // One module graph for all files: most of a file's time is loading the stores and Middy.
    isolate: false,
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
