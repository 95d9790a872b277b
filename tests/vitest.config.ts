import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Most of these files wait on servers, child processes and npm, not on the CPU: three at a time on
    // two cores (vitest's default there is one) keeps CI short. Timing checks leave room for it.
    maxWorkers: 3,
  },
});
