#!/usr/bin/env node
// Builds the documentation site: the API reference from the packages' JSDoc (TypeDoc, typedoc.json,
// into api/), then the VitePress site (into .vitepress/dist). `--api-only` stops after TypeDoc (for
// `vitepress dev`). The packages must be built first (their declarations link the packages'
// pages to each other): the root `pnpm docs:build` does that through turbo.
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const site = join(dirname(fileURLToPath(import.meta.url)), "..");
// A dependency's command, by the `bin` of its package.json (as pnpm linked it into node_modules).
function bin(name, command = name) {
  const dir = join(site, "node_modules", name);
  const { bin } = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  return join(dir, typeof bin === "string" ? bin : bin[command]);
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

rmSync(join(site, "api"), { recursive: true, force: true });
run("API reference (TypeDoc)", bin("typedoc"), ["--options", "typedoc.json"]);
if (!process.argv.includes("--api-only")) {
  run("site (VitePress)", bin("vitepress"), ["build", "."]);
}
