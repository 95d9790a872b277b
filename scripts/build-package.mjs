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
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
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

// Leftovers of builds that were killed (their process is gone, or its id is now ours).
for (const name of readdirSync(".")) {
  const pid = /^dist\.building-(\d+)$/.exec(name)?.[1];
  if (pid !== undefined && (Number(pid) === process.pid || !alive(Number(pid)))) {
    rmSync(name, { recursive: true, force: true });
  }
}
compile("tsconfig.build.json", join(staging, "esm"));
compile("tsconfig.build.cjs.json", join(staging, "cjs"));
writeFileSync(join(staging, "cjs", "package.json"), '{ "type": "commonjs" }\n');

// The build's files replace dist's one by one (each rename replaces one file whole: a process loading the
// package meanwhile reads the old file or the new one, never a missing or half-written one), in an order
// that keeps every file an import names present: files new to dist first (nothing old imports them), then
// the files it already has, and only then dist's files that the build did not make (nothing new imports
// them). A build is still not atomic for a process loading the package through it: it may meet the old
// version of one module beside the new version of another, and an ES module importing a name the other
// no longer exports fails to link. So no test builds while others run (docs/design.md).
function filesUnder(dir, prefix = "") {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(prefix, entry.name);
    return entry.isDirectory() ? filesUnder(join(dir, entry.name), path) : [path];
  });
}
/** The folders a relative path lies in: `a/b/c.js` gives `a` and `a/b`. */
function foldersOf(path) {
  const folders = [];
  for (let up = dirname(path); up !== "."; up = dirname(up)) folders.push(up);
  return folders;
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
// Two builds of the package at once (two terminals, or turbo and an editor's task) move their files in
// one after the other, each listing dist afresh, so dist ends as one of them made it, never a mix.
const lock = "dist.lock";
function acquireLock() {
  for (const started = Date.now(); ; ) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, "pid"), String(process.pid));
      return;
    } catch (error) {
      if (error.code !== "EEXIST") throw error;
    }
    const holder = Number(readFileOr(join(lock, "pid"), ""));
    // A holder gone (or one that died before writing its id, after a grace) leaves the lock to take.
    if (
      holder > 0 ? !alive(holder) : Date.now() - statSync(lock, { throwIfNoEntry: false })?.mtimeMs > 5_000
    ) {
      rmSync(lock, { recursive: true, force: true });
      continue;
    }
    if (Date.now() - started > 10 * 60_000)
      throw new Error(`${lock} held by process ${holder} for 10 minutes`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  }
}
/**
 * Where file names ignore case (macOS, Windows), `Foo.js` left by an earlier build and the `foo.js` this
 * one moved in are one file: removing the old name would remove the new file.
 */
function sameFile(a, b) {
  const [x, y] = [statSync(a, { throwIfNoEntry: false }), statSync(b, { throwIfNoEntry: false })];
  return x !== undefined && y !== undefined && x.ino === y.ino && x.dev === y.dev;
}
function readFileOr(path, fallback) {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return fallback;
  }
}

try {
  acquireLock();
  const built = filesUnder(staging);
  // Where dist has a file where the build makes a folder (or the reverse), the old one goes first.
  const before = filesUnder("dist");
  const files = new Set(before);
  const folders = new Set(before.flatMap(foldersOf));
  const conflicts = new Set();
  for (const path of built) {
    for (const folder of foldersOf(path)) if (files.has(folder)) conflicts.add(folder);
    if (folders.has(path)) conflicts.add(path);
  }
  for (const path of conflicts) rmSync(join("dist", path), { recursive: true, force: true });
  const old = conflicts.size === 0 ? files : new Set(filesUnder("dist"));
  for (const path of built) if (!old.has(path)) moveIn(path);
  for (const path of built) if (old.has(path)) moveIn(path);
  const made = new Map(built.map((path) => [path.toLowerCase(), path]));
  for (const path of old) {
    const twin = made.get(path.toLowerCase());
    if (twin === path || (twin !== undefined && sameFile(join("dist", path), join("dist", twin)))) continue;
    rmSync(join("dist", path), { force: true });
  }
  removeEmptyFolders("dist");
} finally {
  rmSync(staging, { recursive: true, force: true });
  if (readFileOr(join(lock, "pid"), "") === String(process.pid))
    rmSync(lock, { recursive: true, force: true });
}
