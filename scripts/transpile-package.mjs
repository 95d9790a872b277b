// For tests that run a package's code in a child process: its source transpiled to plain JS, file by
// file, with no build step and never into dist (other tests load the built package meanwhile).
import { mkdir, mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const compilerOptions = {
  module: ts.ModuleKind.ESNext,
  target: ts.ScriptTarget.ES2022,
  verbatimModuleSyntax: true,
};

/**
 * The package's `src/*.ts` (not its tests, nor `test-support.ts`; no subfolders) as `.js` files in a new directory under
 * the package's own node_modules, so that a child importing `<dir>/index.js` resolves the package's
 * dependencies as the package does. The caller removes the directory.
 */
export async function transpilePackage(packageDir, name) {
  const root = packageDir instanceof URL ? fileURLToPath(packageDir) : packageDir;
  const src = join(root, "src");
  const cache = join(root, "node_modules", ".cache");
  await mkdir(cache, { recursive: true });
  const out = await mkdtemp(join(cache, `idemkit-${name}-`));
  const files = (await readdir(src)).filter(
    (file) => file.endsWith(".ts") && !/\.(?:test|spec)\.ts$/.test(file) && file !== "test-support.ts",
  );
  // ES modules by declaration: under node_modules Node finds no package.json of ours above them, and
  // guessing from the syntax is not on in every Node 20.
  await writeFile(join(out, "package.json"), '{ "type": "module" }\n');
  for (const file of files) {
    const source = await readFile(join(src, file), "utf8");
    const js = ts.transpileModule(source, { compilerOptions }).outputText;
    await writeFile(join(out, `${file.slice(0, -".ts".length)}.js`), js);
  }
  return out;
}
