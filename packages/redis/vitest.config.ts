import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // One file at a time: the command-count test reads server-wide INFO commandstats on the shared
    // Redis, and two cores are busy enough with one conformance run.
    fileParallelism: false,
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
