// The config of the vitest 3 run (tests/peers/vitest-3.test.ts). A plain object: `vitest/config` would
// resolve to the workspace's vitest 4. The built @idemkit/conformance imports "vitest"; in the workspace
// that name resolves to vitest 4 (the package's devDependency), but vitest 3 answers `import "vitest"`
// with itself in every module it transforms, so the workspace packages are inlined (transformed) rather
// than loaded by Node. Were they not, conformance would call vitest 4's `describe` and no test would be
// collected. In a user's project the name resolves to the user's vitest 3 either way.
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

export default {
  test: {
    root: dirname(fileURLToPath(import.meta.url)),
    include: ["*.conformance.ts"],
    testTimeout: 30_000,
    server: { deps: { inline: [/@idemkit\//, /\/packages\/[^/]+\/dist\//] } },
  },
};
