#!/usr/bin/env node
import { readFileSync, realpathSync } from "node:fs";
import { dirname, join } from "node:path";
import { runCli } from "./main.js";

/** This package's version, from its package.json (two directories up from dist/<format>/bin.js). */
function version(): string {
  try {
    const manifest = join(dirname(realpathSync(process.argv[1] ?? "")), "..", "..", "package.json");
    return (JSON.parse(readFileSync(manifest, "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

runCli(process.argv.slice(2), undefined, version()).then((code) => {
  process.exitCode = code;
});
