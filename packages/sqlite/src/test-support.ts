// Test support, neither built nor published (tsconfig.build.json and package.json `files` leave it out).
import { mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

export const packageDir = fileURLToPath(new URL("..", import.meta.url));

/**
 * This package's source transpiled to plain JS (no build step), in a new directory under its own
 * node_modules, so that a child process resolves better-sqlite3 and @idemkit/core as the package does.
 * Never into dist: other tests load the built package while this one runs. The caller removes it.
 */
export async function transpiled(): Promise<string> {
  const out = await mkdtemp(join(packageDir, "node_modules", ".idemkit-transpiled-"));
  const sources = (await readdir(join(packageDir, "src"))).filter(
    (name) => name.endsWith(".ts") && !name.endsWith(".test.ts") && name !== "test-support.ts",
  );
  for (const name of sources) {
    const file = name.slice(0, -".ts".length);
    const source = await readFile(join(packageDir, "src", name), "utf8");
    const compilerOptions = {
      module: ts.ModuleKind.ESNext,
      target: ts.ScriptTarget.ES2022,
      verbatimModuleSyntax: true,
    };
    await writeFile(join(out, `${file}.js`), ts.transpileModule(source, { compilerOptions }).outputText);
  }
  return out;
}
