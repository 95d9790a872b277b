import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

// A CommonJS Nest project (tsc with module commonjs and decorator metadata, as Nest's CLI sets one
// up) that requires @idemkit/nestjs: compiled here, then run in a Node process of its own.
const fixture = join(dirname(fileURLToPath(import.meta.url)), "nestjs-commonjs");
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");

function run(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { cwd: fixture, timeout: 90_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`node ${args.join(" ")} failed: ${error.message}\n${stdout}${stderr}`));
      else resolve(stdout);
    });
  });
}

it("a CommonJS Nest app requires @idemkit/nestjs, injects by metadata and gets replays on both platforms", async () => {
  await run([tsc, "-p", "tsconfig.json"]);
  expect(existsSync(join(fixture, "dist/app.cjs"))).toBe(true);
  const output = await run(["--no-warnings", "dist/app.cjs"]);
  const first = '{"id":"order-1","item":"book","fence":1}';
  for (const platform of ["express", "fastify"]) {
    expect(output).toContain(`${platform} 201 - ${first}`);
    expect(output).toContain(`${platform} 201 true ${first}`);
  }
  expect(output).toContain("done");
}, 120_000); // tsc takes ~6 s of CPU (Nest's and Node's types)
