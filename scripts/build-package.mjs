#!/usr/bin/env node
// Builds the package in the current directory twice with its own TypeScript: ESM into dist/esm
// (tsconfig.build.json) and CommonJS into dist/cjs (tsconfig.build.cjs.json), each with its own
// declarations, and marks dist/cjs as CommonJS with a one-line package.json so Node and TypeScript both
// read its .js and .d.ts files as CommonJS. Why a dual build: docs/design.md#layout.
//
// Both builds go to a staging folder that then replaces dist whole: files of deleted sources never
// linger in a tarball, and a test running in the same checkout never sees half a dist.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const cwd = process.cwd();
const tsc = createRequire(join(cwd, "package.json")).resolve("typescript/bin/tsc");
const staging = `dist.building-${process.pid}`;

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === "EPERM";
  }
}

function compile(project, outDir) {
  const run = spawnSync(process.execPath, [tsc, "-p", project, "--outDir", outDir], { stdio: "inherit" });
  if (run.status !== 0) {
    rmSync(staging, { recursive: true, force: true });
    process.exit(run.status ?? 1);
  }
}

// Leftovers of builds that were killed (their process is gone).
for (const name of readdirSync(".")) {
  const pid = /^dist\.(?:building|old)-(\d+)/.exec(name)?.[1];
  if (pid !== undefined && !alive(Number(pid))) rmSync(name, { recursive: true, force: true });
}
compile("tsconfig.build.json", join(staging, "esm"));
compile("tsconfig.build.cjs.json", join(staging, "cjs"));
writeFileSync(join(staging, "cjs", "package.json"), '{ "type": "commonjs" }\n');

// Swap in: move the old dist aside, the new one in (retrying if a concurrent build got there first).
for (let attempt = 0; ; attempt++) {
  const old = `dist.old-${process.pid}-${attempt}`;
  try {
    if (existsSync("dist")) renameSync("dist", old);
  } catch (error) {
    if (error.code !== "ENOENT") throw error;
  }
  rmSync(old, { recursive: true, force: true });
  try {
    renameSync(staging, "dist");
    break;
  } catch (error) {
    if ((error.code !== "ENOTEMPTY" && error.code !== "EEXIST") || attempt > 5) throw error;
  }
}
