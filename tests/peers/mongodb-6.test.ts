// @idemkit/mongodb's peer range is `^6 || ^7`; the package's own tests run on 7. No MongoDB server runs
// here, so this runs the store's server-less unit tests (a fake collection: filters, pipelines, options,
// duplicate-key retry, byte conversion, the claim decisions) with `mongodb` redirected to driver 6 (the
// `mongodb-6` alias): the store and the tests get driver 6's Binary and BSON. They prove nothing a real
// server would (see the package's conformance.test.ts); they do prove the store loads on driver 6 and
// builds the same requests with its types.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import * as mongodb6 from "mongodb-6";
import { describe, expect, it, vi } from "vitest";

vi.mock("mongodb", async () => await import("mongodb-6"));

const require = createRequire(import.meta.url);
const version = (
  JSON.parse(readFileSync(require.resolve("mongodb-6/package.json"), "utf8")) as { version: string }
).version;

describe(`mongodb driver ${version}`, () => {
  it("is major 6, and the store's `mongodb` is it", async () => {
    expect(version).toMatch(/^6\./);
    const seen = await import("mongodb");
    expect(seen.Binary).toBe(mongodb6.Binary);
    // The store writes a result as driver 6's Binary (found anywhere in the update it sends).
    const { createMongoStore } = await import("../../packages/mongodb/src/mongo-store.js");
    let update: unknown;
    const collection = {
      findOneAndUpdate: async () => null,
      updateOne: async (_filter: unknown, pipeline: unknown) => {
        update = pipeline;
        return { matchedCount: 1 };
      },
    };
    const store = createMongoStore({ collection: collection as never });
    await store.complete("k", "t", { result: new Uint8Array([1, 2, 3]), retentionMs: 1000 });
    const binaries: unknown[] = [];
    const walk = (value: unknown): void => {
      if (value instanceof mongodb6.Binary || value?.constructor?.name === "Binary") binaries.push(value);
      else if (value && typeof value === "object") Object.values(value).forEach(walk);
    };
    walk(update);
    expect(binaries).toHaveLength(1);
    expect(binaries[0]).toBeInstanceOf(mongodb6.Binary);
  });
});

// The package's own unit tests, collected here under the mock.
await import("../../packages/mongodb/src/mongo-store.test.js");
