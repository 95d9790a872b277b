// `pnpm test` runs the packages' tests side by side, most of them loading the workspace packages from their
// dist. A test that starts a build there (turbo, `pnpm build`, or `pnpm demo`, which builds first) rewrites a
// dist under the others' feet: turbo restores a cached build by deleting and recreating each file. Such tests
// belong in tests/terminal, which the root script runs after everything else.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const runAfterwards = [join(root, "tests", "terminal"), join(root, "tests", "runtimes")];
const thisFile = fileURLToPath(import.meta.url); // its own examples below would match

/**
 * A command that builds, as the first word of a string literal; TypeScript run on a package's build config;
 * or the packages' build script named.
 */
const startsABuild =
  /["'`](?:pnpm (?:demo|build|run build)|turbo|npx turbo)\b|"-p",\s*"tsconfig\.build|["'`/]build-package\.mjs["'`]/;

/** Files that start a build on purpose, and why none rewrites a dist another test loads meanwhile. */
const buildsSafely = new Map([
  [join(root, "tests", "packaging", "build-package.test.ts"), "builds a package of its own, in tests/"],
  [
    join(root, "packages", "cli", "src", "testing", "build.ts"),
    "builds the CLI only when its dist is older than its source, which under pnpm test it never is: turbo builds the CLI before its tests (turbo.json)",
  ],
]);

const SOURCE = /\.[cm]?[jt]s$/;
const isTest = (name: string) => /\.test\.[cm]?[jt]s$/.test(name);
const isConfig = (name: string) => /^vitest\.config\.[cm]?[jt]s$/.test(name);

/** The test files and vitest configs under `dir` (the configs name setup files that run with the tests). */
function roots(dir: string): string[] {
  if (runAfterwards.includes(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.name === "node_modules" || entry.name === "dist" || entry.name.startsWith(".")) return [];
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return roots(path);
    return isTest(entry.name) || isConfig(entry.name) ? [path] : [];
  });
}

/** The files of the checkout that `file` names by a relative path (imports, setup files), resolved. */
function relativeFiles(file: string): string[] {
  const names = readFileSync(file, "utf8").matchAll(/["'`](\.{1,2}\/[^"'`\s]+)["'`]/g);
  return [...names].flatMap(([, name = ""]) => {
    const path = join(dirname(file), name);
    const candidates = [path, path.replace(/\.([cm]?)js$/, ".$1ts"), `${path}.ts`, join(path, "index.ts")];
    const found = candidates.find((candidate) => SOURCE.test(candidate) && existsSync(candidate));
    return found !== undefined && !found.includes("node_modules") && statSync(found).isFile() ? [found] : [];
  });
}

/** Every file the parallel run loads from the checkout: the roots and, transitively, what they name. */
function loadedFiles(): string[] {
  const seen = new Set<string>();
  const queue = ["packages", "examples", "tests", "site", "bench"].flatMap((dir) => roots(join(root, dir)));
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (seen.has(file) || runAfterwards.some((dir) => file.startsWith(`${dir}/`))) continue;
    seen.add(file);
    queue.push(...relativeFiles(file));
  }
  return [...seen];
}

describe("the parallel part of pnpm test", () => {
  const files = loadedFiles();

  it("finds the test files it checks", () => {
    expect(files.length).toBeGreaterThan(50);
    expect(files).toContain(join(root, "tests", "demo.test.ts"));
    // Beyond the test files: a config's setup file, and the helpers tests import.
    expect(files).toContain(join(root, "packages", "cli", "src", "testing", "build.ts"));
    expect(files).toContain(join(root, "packages", "sqlite", "src", "test-support.ts"));
    expect(files).toContain(join(root, "scripts", "transpile-package.mjs"));
  });

  it("reads every file it excuses (a stale entry is an error)", () => {
    for (const file of buildsSafely.keys()) expect(files).toContain(file);
  });

  it("starts no build: tests that run turbo, pnpm build, pnpm demo or a package's build (or a file they load) live in tests/terminal", () => {
    const offenders = files
      .filter((file) => file !== thisFile && !buildsSafely.has(file))
      .filter((file) => startsABuild.test(readFileSync(file, "utf8")))
      .map((file) => relative(root, file));
    expect(offenders).toEqual([]);
  });

  it("the pattern catches the README's command as a test would start it", () => {
    expect(startsABuild.test('atTerminal("pnpm demo --serve")')).toBe(true);
    expect(startsABuild.test('spawn("turbo", ["run", "build"])')).toBe(true);
    expect(startsABuild.test('execFileSync(process.execPath, [tsc, "-p", "tsconfig.build.json"])')).toBe(
      true,
    );
    expect(startsABuild.test('join(root, "scripts", "build-package.mjs")')).toBe(true);
    expect(startsABuild.test("`not built: run pnpm build first`")).toBe(false);
  });
});
