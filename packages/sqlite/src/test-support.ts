// Test support, neither built nor published (tsconfig.build.json and package.json `files` leave it out).
import { fileURLToPath } from "node:url";
import { transpilePackage } from "../../../scripts/transpile-package.mjs";

export const packageDir = fileURLToPath(new URL("..", import.meta.url));

/**
 * This package's source transpiled to plain JS (no build step), for child processes: they resolve
 * better-sqlite3 and @idemkit/core as the package does. The caller removes the directory.
 */
export const transpiledPackage = () => transpilePackage(packageDir, "sqlite");
