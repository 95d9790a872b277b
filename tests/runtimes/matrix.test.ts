// The runtime matrix: @idemkit/core's own tests on Node 20, 22 and 24, and a smoke test of the Web
// handler (smoke.mjs: a request, a replay, a 409, a 422), behind `idem.wrap` and behind @idemkit/hono's
// middleware in a Hono app, on those and on Bun and Deno. Each runtime is a
// package from the npm registry, run with `npx -y -p <package> …` (cached in ~/.npm after the first
// time); the Node the tests run on is used as is for its own major. Core's tests are run by that
// runtime running core's vitest (`<node> node_modules/vitest/vitest.mjs run`, in packages/core); the
// smoke test imports core's built ESM (packages/core/dist/esm), and its Hono run @idemkit/hono's (by
// name, from this workspace's node_modules), so both must be built.
//
// A runtime that cannot be obtained (the registry is down) is skipped with a visible line, unless
// IDEMKIT_REQUIRE names it (node20, node22, node24, bun, deno; or "runtimes" for all), as CI does: then
// its tests fail. Not part of `pnpm test`; run by `pnpm test:runtimes`.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const here = dirname(fileURLToPath(import.meta.url));
const coreDir = join(here, "../../packages/core");
const coreDist = join(coreDir, "dist/esm");
const coreEntry = join(coreDist, "index.js");
const smoke = join(here, "smoke.mjs");
const scratch = mkdtempSync(join(tmpdir(), "idemkit-runtimes-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

// The children get neither this run's vitest worker settings nor the npm_* settings pnpm hands scripts.
const env: NodeJS.ProcessEnv = {
  ...Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !/^VITEST|^TEST$|^NODE_OPTIONS$|^npm_|^pnpm_/i.test(name)),
  ),
  NO_COLOR: "1",
  FORCE_COLOR: "0",
  DENO_NO_UPDATE_CHECK: "1",
};

interface Ran {
  code: number;
  output: string;
  ms: number;
}

function run(command: string, args: string[], cwd: string, timeoutMs: number): Promise<Ran> {
  const started = performance.now();
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd, env, timeout: timeoutMs, maxBuffer: 32 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, output: `${stdout}${stderr}`.trim(), ms: performance.now() - started });
      },
    );
  });
}

type Kind = "node" | "bun" | "deno";
interface Runtime {
  /** The name IDEMKIT_REQUIRE uses. */
  id: string;
  kind: Kind;
  /** The npm package that brings it. */
  pkg: string;
  /** Its binary, or why it could not be had. */
  bin?: string;
  version?: string;
  problem?: string;
}

const hostMajor = Number(process.versions.node.split(".")[0]);
const runtimes: Runtime[] = [
  { id: "node20", kind: "node", pkg: "node@20" },
  { id: "node22", kind: "node", pkg: "node@22" },
  { id: "node24", kind: "node", pkg: "node@24" },
  { id: "bun", kind: "bun", pkg: "bun@1" },
  { id: "deno", kind: "deno", pkg: "deno@2" },
];

// How each kind prints its own binary's path and its version.
const introspect: Record<Kind, [command: string, args: string[]]> = {
  node: ["node", ["-p", "process.execPath + ' ' + process.version"]],
  bun: ["bun", ["-p", "process.execPath + ' ' + Bun.version"]],
  deno: ["deno", ["eval", "console.log(Deno.execPath() + ' ' + Deno.version.deno)"]],
};

async function obtain(runtime: Runtime): Promise<void> {
  if (runtime.kind === "node" && runtime.id === `node${hostMajor}`) {
    runtime.bin = process.execPath;
    runtime.version = process.version;
    return;
  }
  const [command, args] = introspect[runtime.kind];
  // From a scratch folder, so npm reads no workspace settings; the first time downloads the package.
  const got = await run("npx", ["-y", "-p", runtime.pkg, command, ...args], scratch, 300_000);
  const [bin, version] = got.output.split("\n").at(-1)?.split(" ") ?? [];
  if (got.code === 0 && bin && version) {
    runtime.bin = bin;
    runtime.version = version;
  } else {
    runtime.problem = `could not get ${runtime.pkg} from the npm registry (npx exited ${got.code}): ${got.output.slice(-400)}`;
  }
}

const required = (process.env.IDEMKIT_REQUIRE ?? "")
  .split(",")
  .map((name) => name.trim().toLowerCase())
  .filter(Boolean);
const isRequired = (runtime: Runtime) =>
  required.includes(runtime.id) || required.includes("runtimes") || required.includes("all");

const obtaining = performance.now();
await Promise.all(runtimes.map(obtain));
console.info(`[idemkit] runtimes obtained in ${((performance.now() - obtaining) / 1000).toFixed(1)} s`);
for (const runtime of runtimes) {
  if (runtime.bin)
    console.info(`[idemkit] runtime ${runtime.id}: ${runtime.kind} ${runtime.version} (${runtime.bin})`);
  else if (isRequired(runtime))
    console.error(`[idemkit] runtime ${runtime.id} is required (IDEMKIT_REQUIRE) but ${runtime.problem}`);
  else console.warn(`[idemkit] SKIPPING runtime ${runtime.id}: ${runtime.problem}`);
}

const skipped = (runtime: Runtime) => runtime.bin === undefined && !isRequired(runtime);
const label = (runtime: Runtime) =>
  runtime.bin
    ? `${runtime.kind} ${runtime.version}`
    : `${runtime.pkg}${skipped(runtime) ? ` (skipped: ${runtime.problem?.split(":")[0]})` : ""}`;
const binOf = (runtime: Runtime): string => {
  if (!runtime.bin) throw new Error(`${runtime.id}: ${runtime.problem}`);
  return runtime.bin;
};

interface JsonReport {
  numTotalTests: number;
  numPassedTests: number;
  numFailedTests: number;
  testResults: { assertionResults: { fullName: string; status: string; failureMessages: string[] }[] }[];
}

describe.concurrent("runtime matrix", () => {
  for (const runtime of runtimes.filter((r) => r.kind === "node")) {
    it.skipIf(skipped(runtime))(`core's tests on ${label(runtime)}`, { timeout: 240_000 }, async () => {
      const node = binOf(runtime);
      const report = join(scratch, `core-${runtime.id}.json`);
      const ran = await run(
        node,
        ["node_modules/vitest/vitest.mjs", "run", "--reporter=json", `--outputFile.json=${report}`],
        coreDir,
        200_000,
      );
      let result: JsonReport;
      try {
        result = JSON.parse(readFileSync(report, "utf8")) as JsonReport;
      } catch {
        throw new Error(`core's vitest on ${runtime.id} wrote no report (exit ${ran.code}):\n${ran.output}`);
      }
      const failed = result.testResults
        .flatMap((file) => file.assertionResults)
        .filter((test) => test.status === "failed")
        .map((test) => `${test.fullName}\n${test.failureMessages.join("\n")}`);
      console.info(
        `[idemkit] core's tests on ${label(runtime)}: ${result.numPassedTests} passed, ` +
          `${result.numFailedTests} failed of ${result.numTotalTests}, ${(ran.ms / 1000).toFixed(1)} s`,
      );
      expect(failed, ran.output).toEqual([]);
      expect(ran.code, ran.output).toBe(0);
      expect(result.numPassedTests).toBeGreaterThan(100);
    });
  }

  const smokes = [
    ["wrap", "the Web handler"],
    ["hono", "the Hono middleware"],
  ] as const;
  for (const runtime of runtimes) {
    for (const [through, what] of smokes) {
      it.skipIf(skipped(runtime))(
        `${what} smoke test on ${label(runtime)}`,
        { timeout: 60_000 },
        async () => {
          const bin = binOf(runtime);
          const entry = pathToFileURL(coreEntry).href;
          // Deno: no permission but reading core's build (the smoke test itself needs none).
          const args =
            runtime.kind === "deno"
              ? ["run", "--no-prompt", `--allow-read=${coreDist}`, smoke, entry, through]
              : [smoke, entry, through];
          const ran = await run(bin, args, scratch, 50_000);
          expect(ran.output).toContain("SMOKE OK");
          expect(ran.code, ran.output).toBe(0);
          console.info(`[idemkit] ${ran.output} (${(ran.ms / 1000).toFixed(1)} s)`);
        },
      );
    }
  }
});
