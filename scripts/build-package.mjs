#!/usr/bin/env node
// Builds the package in the current directory twice with its own TypeScript: ESM into dist/esm
// (tsconfig.build.json) and CommonJS into dist/cjs (tsconfig.build.cjs.json), each with its own
// declarations, and marks dist/cjs as CommonJS with a one-line package.json so Node and TypeScript both
// read its .js and .d.ts files as CommonJS. Why a dual build: docs/design.md#layout.
//
// Both builds go to a staging folder whose files then replace dist's one by one, and dist's files that the
// build did not make are removed: files of deleted sources never linger in a tarball, and a test running in
// the same checkout never reads a missing or half-written file of a package that is rebuilt.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
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
  const pid = /^dist\.building-(\d+)/.exec(name)?.[1];
  if (pid !== undefined && !alive(Number(pid))) rmSync(name, { recursive: true, force: true });
}
compile("tsconfig.build.json", join(staging, "esm"));
compile("tsconfig.build.cjs.json", join(staging, "cjs"));
writeFileSync(join(staging, "cjs", "package.json"), '{ "type": "commonjs" }\n');

// Dist's files that the build did not make go first (a file where the build made a folder too); then the
// build's files move in one by one: each rename replaces one file whole, so a process loading the package
// meanwhile reads the old file or the new one, never a missing or half-written one.
function removeStale(built, dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const counterpart = join(built, entry.name);
    if (!existsSync(counterpart) || statSync(counterpart).isDirectory() !== entry.isDirectory()) {
      rmSync(path, { recursive: true, force: true });
    } else if (entry.isDirectory()) removeStale(counterpart, path);
  }
}
function moveIn(from, to) {
  mkdirSync(to, { recursive: true });
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const source = join(from, entry.name);
    if (entry.isDirectory()) moveIn(source, join(to, entry.name));
    else renameSync(source, join(to, entry.name));
  }
}
if (existsSync("dist")) removeStale(staging, "dist");
moveIn(staging, "dist");
rmSync(staging, { recursive: true, force: true });
