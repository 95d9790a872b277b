// Test support, neither built nor published: builds the package when dist is older than src, so that the
// tests spawn the bin of the code they test (turbo builds only a package's dependencies before its tests).
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

function newest(dir: string): number {
  let at = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    at = Math.max(at, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return at;
}

export default function setup(): void {
  const bin = join(root, "dist", "esm", "bin.js");
  if (existsSync(bin) && statSync(bin).mtimeMs >= newest(join(root, "src"))) return;
  const built = spawnSync(process.execPath, [join(root, "..", "..", "scripts", "build-package.mjs")], {
    cwd: root,
    stdio: "inherit",
  });
  if (built.status !== 0) throw new Error("building @idemkit/cli for its tests failed");
}
