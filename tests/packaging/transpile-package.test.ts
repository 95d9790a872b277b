// scripts/transpile-package.mjs, which the store packages' tests use to run their source in a child
// process: the output loads as ES modules even where Node does not guess a module's type from its syntax.
import { spawnSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { transpilePackage } from "../../scripts/transpile-package.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

describe("scripts/transpile-package.mjs", () => {
  it("writes a package's source as ES modules a child process loads, with no test files", async () => {
    const dir = await transpilePackage(join(root, "packages", "sqlite"), "transpile-check");
    try {
      expect(existsSync(join(dir, "index.js"))).toBe(true);
      expect(existsSync(join(dir, "test-support.js"))).toBe(false);
      expect(existsSync(join(dir, "store.test.js"))).toBe(false);
      const loaded = spawnSync(
        process.execPath,
        [
          "--no-experimental-detect-module",
          "--input-type=module",
          "-e",
          `const m = await import(${JSON.stringify(join(dir, "index.js"))}); console.log(typeof m.createSqliteStore);`,
        ],
        { encoding: "utf8" },
      );
      expect(loaded.stderr).toBe("");
      expect(loaded.stdout.trim()).toBe("function");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
