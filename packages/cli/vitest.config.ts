import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // The tests run the built bin (dist/esm/bin.js) as a child process: built first when stale.
    globalSetup: ["./src/testing/build.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
