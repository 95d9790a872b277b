// @idemkit/conformance's vitest peer range is `^3 || ^4`; everything else runs on vitest 4. This runs the
// published suite against core's memory store under vitest 3 (the `vitest-3` alias), in a child process
// started with vitest 3's own binary: peers/vitest-3/memory.conformance.ts, with peers/vitest-3/vitest.config.mts.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const vitest3 = dirname(require.resolve("vitest-3/package.json"));
const version = (JSON.parse(readFileSync(join(vitest3, "package.json"), "utf8")) as { version: string })
  .version;

const out = mkdtempSync(join(tmpdir(), "idemkit-vitest3-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

// The child must not think it is a worker of this run.
const env = Object.fromEntries(
  Object.entries(process.env).filter(([name]) => !/^VITEST|^NODE_OPTIONS$|^TEST$/.test(name)),
);

interface JsonReport {
  success: boolean;
  numTotalTests: number;
  numPassedTests: number;
  numFailedTests: number;
  testResults: { assertionResults: { fullName: string; status: string; failureMessages: string[] }[] }[];
}

describe(`@idemkit/conformance under vitest ${version}`, () => {
  it("passes on the memory store, run by vitest 3", { timeout: 90_000 }, async () => {
    expect(version).toMatch(/^3\./);
    const report = join(out, "report.json");
    const output = await new Promise<string>((resolve) => {
      execFile(
        process.execPath,
        [
          join(vitest3, "vitest.mjs"),
          "run",
          "--config",
          join(here, "vitest-3/vitest.config.mts"),
          "--reporter=default",
          "--reporter=json",
          `--outputFile.json=${report}`,
        ],
        { cwd: here, env: { ...env, NO_COLOR: "1" }, timeout: 80_000, maxBuffer: 16 * 1024 * 1024 },
        (_error, stdout, stderr) => resolve(`${stdout}${stderr}`),
      );
    });
    expect(output, output).toMatch(/RUN\s+v3\./);
    const result = JSON.parse(readFileSync(report, "utf8")) as JsonReport;
    const failed = result.testResults
      .flatMap((file) => file.assertionResults)
      // The memory store declares no outcome limit: the checks of a declared one are skipped, visibly.
      .filter(
        (test) => test.status !== "passed" && !(test.status === "skipped" && /limit/.test(test.fullName)),
      )
      .map((test) => `${test.status}: ${test.fullName}\n${test.failureMessages.join("\n")}`);
    expect(failed, output).toEqual([]);
    // The whole suite ran (it has more than 50 checks), not an empty collection.
    expect(result.numPassedTests).toBeGreaterThan(50);
    expect(result.success).toBe(true);
  });
});
