import { join } from "node:path";
import { pathToFileURL } from "node:url";

/**
 * A package as another checkout built it (`pnpm build` there), to run two builds in one process:
 * `packageOf(checkout, "core")` is that checkout's `@idemkit/core`.
 */
export const packageOf = (checkout: string, pkg: string) =>
  import(pathToFileURL(join(checkout, "packages", pkg, "dist/esm/index.js")).href);
