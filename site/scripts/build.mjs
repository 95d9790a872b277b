#!/usr/bin/env node
// Builds the documentation site: the API reference from the packages' JSDoc (TypeDoc, typedoc.json,
// into api/), then the VitePress site (into .vitepress/dist, or IDEMKIT_DOCS_OUT_DIR). `--api-only`
// stops after TypeDoc (for `vitepress dev`). The packages must be built first (their declarations link
// the packages' pages to each other): the root `pnpm docs:build` does that through turbo.
//
// Several people (and test runs) share one checkout: api/ and VitePress's own .vitepress/.temp are
// shared, so builds take turns under a lock directory (a lock left by a process that is gone is removed).
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const site = join(dirname(fileURLToPath(import.meta.url)), "..");
const lock = join(site, ".vitepress", ".build-lock");

// A dependency's command, by the `bin` of its package.json (as pnpm linked it into node_modules).
function bin(name) {
  const dir = join(site, "node_modules", name);
  const { bin } = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  return join(dir, typeof bin === "string" ? bin : bin[name]);
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === "EPERM";
  }
}

function acquireLock() {
  const started = Date.now();
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  for (let announced = false; ; ) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, "pid"), String(process.pid));
      process.on("exit", () => rmSync(lock, { recursive: true, force: true }));
      return;
    } catch (error) {
      if (error.code !== "EEXIST") throw error;
    }
    let holder;
    try {
      holder = Number(readFileSync(join(lock, "pid"), "utf8"));
    } catch {
      holder = undefined; // just created, its pid not written yet
    }
    if (holder !== undefined && !alive(holder)) {
      rmSync(lock, { recursive: true, force: true });
      continue;
    }
    if (Date.now() - started > 10 * 60_000) throw new Error(`docs: ${lock} held for 10 minutes`);
    if (!announced) console.log(`docs: another build is running (pid ${holder}); waiting for it`);
    announced = true;
    Atomics.wait(sleeper, 0, 0, 250);
  }
}

function run(label, script, args) {
  const started = Date.now();
  const result = spawnSync(process.execPath, [script, ...args], { cwd: site, stdio: "inherit" });
  if (result.status !== 0) {
    console.error(`docs: ${label} failed (exit ${result.status ?? result.signal})`);
    process.exit(result.status ?? 1);
  }
  console.log(`docs: ${label} done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

acquireLock();
rmSync(join(site, "api"), { recursive: true, force: true });
run("API reference (TypeDoc)", bin("typedoc"), ["--options", "typedoc.json"]);
if (!process.argv.includes("--api-only")) run("site (VitePress)", bin("vitepress"), ["build", "."]);
