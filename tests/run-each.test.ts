// `pnpm test` runs the parallel part, then the tests at a terminal, through scripts/run-each.mjs: the
// second part runs even when the first fails, and the whole fails if either did.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const script = join(root, "scripts", "run-each.mjs");
const runEach = (...commands: string[]) =>
  spawnSync(process.execPath, [script, ...commands], { encoding: "utf8" });

describe("scripts/run-each.mjs", () => {
  it("runs every command after one fails, and fails", () => {
    const run = runEach("exit 3", "echo second ran");
    expect(run.stdout).toContain("second ran");
    expect(run.stderr).toContain("`exit 3` failed (3)");
    expect(run.status).toBe(1);
  });

  it("succeeds when every command does", () => {
    const run = runEach("echo one", "echo two");
    expect(run.stdout).toBe("one\ntwo\n");
    expect(run.status).toBe(0);
  });

  it("is how pnpm test runs the parallel part and then the tests at a terminal", () => {
    const { scripts } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
    expect(scripts.test).toMatch(/^node scripts\/run-each\.mjs /);
    const parallel = scripts.test.search(/\bturbo run test\b/);
    expect(parallel).toBeGreaterThan(0);
    expect(parallel).toBeLessThan(scripts.test.indexOf("test:terminal"));
  });
});
