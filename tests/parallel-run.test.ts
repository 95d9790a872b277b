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

/** How a test would start a build, as it spells it out (a heuristic: it reads text, and runs nothing). */
const BUILD_COMMANDS = [
  // A package manager's build or demo at the start of a string, with filters or a `cd` before it.
  String.raw`["'\x60](?:cd \S+ && )?(?:pnpm|npm|yarn)(?: (?:-r|--recursive|--silent|--filter[= ]\S+|-F \S+))* (?:run (?:-r )?)?(?:build|demo)(?![\w.-])`,
  // turbo, however it is started (not turbo.json, nor a word that merely begins with it).
  String.raw`["'\x60](?:cd \S+ && )?(?:npx |pnpx |pnpm (?:exec|dlx) )?turbo(?![\w.-])`,
  // The same with the arguments as an array.
  String.raw`["'](?:pnpm|npm|yarn)["'],\s*\[[^\]]*["'](?:build|demo)["']`,
  String.raw`["']turbo["'],\s*\[`,
  // TypeScript on a package's build config, or in build mode.
  String.raw`(?:-p|--project)["'\x60]?,?\s*["'\x60]?[^"'\x60\s]*tsconfig\.build`,
  String.raw`\btsc (?:-b|--build)\b`,
  // The packages' build script, however its path is spelt.
  String.raw`build-package\.mjs`,
];
const startsABuild = new RegExp(BUILD_COMMANDS.join("|"));

/** Files that start a build on purpose, and why none rewrites a dist another test loads meanwhile. */
const buildsSafely = new Map([
  [join(root, "tests", "packaging", "build-package.test.ts"), "builds a package of its own, in tests/"],
  [
    join(root, "packages", "cli", "src", "testing", "build.ts"),
    "builds the CLI only when its dist is older than its source, which under pnpm test it never is: turbo builds the CLI before its tests (turbo.json)",
  ],
]);

const SOURCE = /\.[cm]?[jt]s$/;
const isTest = (name: string) => /\.(?:test|spec)\.[cm]?[jt]sx?$/.test(name);
const isConfig = (name: string) => /^(?:vitest|vite)\.config\.[cm]?[jt]s$/.test(name);

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

/**
 * The files of the checkout that `file` names by a relative path, resolved: imports (`./x.js`), and
 * setup files as a config names them (`./setup.ts` or `src/setup.ts`).
 */
function relativeFiles(file: string): string[] {
  const names = readFileSync(file, "utf8").matchAll(
    /["'`](\.{1,2}\/[^"'`\s]+|[\w-]+(?:\/[\w.-]+)*\/[\w.-]+\.[cm]?[jt]s)["'`]/g,
  );
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
    for (const spelling of [
      'atTerminal("pnpm demo --serve")',
      'spawn("turbo", ["run", "build"])',
      'execFileSync(process.execPath, [tsc, "-p", "tsconfig.build.json"])',
      'join(root, "scripts", "build-package.mjs")',
      'execFileSync("pnpm", ["run", "build"])',
      'spawn("pnpm", ["demo"])',
      'execSync("pnpm --filter @idemkit/core build")',
      'execSync("pnpm -r build")',
      'execSync("pnpm run -r build")',
      'execSync("cd ../core && pnpm build")',
      'execSync("npm run build")',
      'execSync("pnpm exec turbo run build")',
      'execSync("pnpx turbo run build")',
      'execSync("tsc -p tsconfig.build.json")',
      'execSync("tsc -b")',
      'spawn(tsc, ["--project", "tsconfig.build.cjs.json"])',
      'execSync("node ../../scripts/build-package.mjs --x")',
    ]) {
      expect(startsABuild.test(spelling), spelling).toBe(true);
    }
    for (const spelling of ['readFileSync("turbo.json")', '"pnpm build-storybook"', '"turbo-charged"']) {
      expect(startsABuild.test(spelling), spelling).toBe(false);
    }
    expect(startsABuild.test("`not built: run pnpm build first`")).toBe(false);
  });
});
