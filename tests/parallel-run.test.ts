// `pnpm test` runs the packages' tests side by side, most of them loading the workspace packages from their
// dist. A test that starts a build there (turbo, `pnpm build`, or `pnpm demo`, which builds first) rewrites a
// dist under the others' feet: turbo restores a cached build by deleting and recreating each file. Such tests
// belong in tests/terminal, which the root script runs after everything else.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const runAfterwards = [join(root, "tests", "terminal"), join(root, "tests", "runtimes")];
const thisFile = fileURLToPath(import.meta.url); // its own examples below would match

/** A command that builds, as the first word of a string literal, or TypeScript run on a package's build config. */
const startsABuild = /["'`](?:pnpm (?:demo|build|run build)|turbo|npx turbo)\b|"-p",\s*"tsconfig\.build/;

function testFiles(dir: string): string[] {
  if (runAfterwards.includes(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.name === "node_modules" || entry.name === "dist" || entry.name.startsWith(".")) return [];
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return testFiles(path);
    return /\.test\.[cm]?[jt]s$/.test(entry.name) ? [path] : [];
  });
}

describe("the parallel part of pnpm test", () => {
  const files = ["packages", "examples", "tests", "site", "bench"].flatMap((dir) =>
    testFiles(join(root, dir)),
  );

  it("finds the test files it checks", () => {
    expect(files.length).toBeGreaterThan(50);
    expect(files).toContain(join(root, "tests", "demo.test.ts"));
  });

  it("starts no build: tests that run turbo, pnpm build, pnpm demo or a package's build config live in tests/terminal", () => {
    const offenders = files
      .filter((file) => file !== thisFile && startsABuild.test(readFileSync(file, "utf8")))
      .map((file) => relative(root, file));
    expect(offenders).toEqual([]);
  });

  it("the pattern catches the README's command as a test would start it", () => {
    expect(startsABuild.test('atTerminal("pnpm demo --serve")')).toBe(true);
    expect(startsABuild.test('spawn("turbo", ["run", "build"])')).toBe(true);
    expect(startsABuild.test('execFileSync(process.execPath, [tsc, "-p", "tsconfig.build.json"])')).toBe(
      true,
    );
    expect(startsABuild.test("`not built: run pnpm build first`")).toBe(false);
  });
});
