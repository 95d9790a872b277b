#!/usr/bin/env node
// Builds the package in the current directory twice with its own TypeScript: ESM into dist/esm
// (tsconfig.build.json) and CommonJS into dist/cjs (tsconfig.build.cjs.json), each with its own
// declarations, and marks dist/cjs as CommonJS with a one-line package.json so Node and TypeScript both
// read its .js and .d.ts files as CommonJS. Why a dual build: docs/design.md#layout.
//
// Both builds go to a staging folder whose files then replace dist's one by one, and dist's files that the
// build did not make are removed: files of deleted sources never linger in a tarball, and a process loading
// the package while it is rebuilt never meets a missing or half-written file.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

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

// The build's files replace dist's one by one (each rename replaces one file whole: a process loading the
// package meanwhile reads the old file or the new one, never a missing or half-written one), in an order
// that keeps every import resolvable: files new to dist first (nothing old imports them), then the files
// it already has, and only then dist's files that the build did not make (nothing new imports them). A
// loader may still meet the old version of one module beside the new version of another while the files
// move: a build is not atomic for a process running through it.
function filesUnder(dir, prefix = "") {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(prefix, entry.name);
    return entry.isDirectory() ? filesUnder(join(dir, entry.name), path) : [path];
  });
}
function moveIn(path) {
  mkdirSync(dirname(join("dist", path)), { recursive: true });
  renameSync(join(staging, path), join("dist", path));
}
/** Dist's folders (deepest first) left empty once stale files are gone. */
function removeEmptyFolders(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const path = join(dir, entry.name);
    removeEmptyFolders(path);
    if (readdirSync(path).length === 0) rmSync(path, { recursive: true });
  }
}
try {
  const built = filesUnder(staging);
  // Where dist has a file where the build makes a folder (or the reverse), the old one goes first.
  const before = new Set(filesUnder("dist"));
  for (const path of built) {
    for (let up = dirname(path); up !== "."; up = dirname(up)) {
      if (before.has(up)) rmSync(join("dist", up), { force: true });
    }
    if (existsSync(join("dist", path)) && statSync(join("dist", path)).isDirectory()) {
      rmSync(join("dist", path), { recursive: true, force: true });
    }
  }
  const old = new Set(filesUnder("dist"));
  for (const path of built) if (!old.has(path)) moveIn(path);
  for (const path of built) if (old.has(path)) moveIn(path);
  const made = new Set(built);
  for (const path of old) if (!made.has(path)) rmSync(join("dist", path), { force: true });
  removeEmptyFolders("dist");
} finally {
  rmSync(staging, { recursive: true, force: true });
}
