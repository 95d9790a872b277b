// scripts/build-package.mjs on a small package of its own: both builds land in dist, files of deleted
// sources go, and a process reading the package's files while it is rebuilt never finds one missing or
// half written (other tests load the workspace's dist while a build may run).
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const tests = join(dirname(fileURLToPath(import.meta.url)), "..");
const script = join(tests, "..", "scripts", "build-package.mjs");
// Inside tests/ so that the script finds TypeScript in tests/node_modules, as it finds a package's own.
const pkg = mkdtempSync(join(tests, ".build-package-"));
afterAll(() => rmSync(pkg, { recursive: true, force: true }));

const json = (path: string, value: unknown) => writeFileSync(join(pkg, path), JSON.stringify(value));
json("package.json", { name: "build-package-check", private: true, type: "module" });
json("tsconfig.build.json", {
  compilerOptions: {
    target: "ES2022",
    module: "NodeNext",
    moduleResolution: "NodeNext",
    declaration: true,
    strict: true,
    types: [],
    outDir: "dist/esm",
  },
  include: ["src"],
});
json("tsconfig.build.cjs.json", {
  extends: "./tsconfig.build.json",
  compilerOptions: { module: "CommonJS", moduleResolution: "Node10", outDir: "dist/cjs" },
});
mkdirSync(join(pkg, "src"));
writeFileSync(join(pkg, "src", "index.ts"), 'export { value } from "./value.js";\n');
writeFileSync(join(pkg, "src", "value.ts"), `export const value = "${"x".repeat(200_000)}";\n`);

function build(): void {
  const run = spawnSync(process.execPath, [script], { cwd: pkg, encoding: "utf8" });
  expect(run.status, `${run.stdout}${run.stderr}`).toBe(0);
}

/**
 * Runs `reader` (a CommonJS program in the package's folder that reports on stdin's first line) while the
 * package is rebuilt, and returns its report.
 */
async function readWhileRebuilding(reader: string): Promise<unknown> {
  const child = spawn(process.execPath, ["-e", reader], { cwd: pkg, stdio: ["pipe", "pipe", "inherit"] });
  let report = "";
  child.stdout.on("data", (chunk) => {
    report += chunk;
  });
  const exited = new Promise((resolve) => child.on("exit", resolve));
  const code = await new Promise((resolve) =>
    spawn(process.execPath, [script], { cwd: pkg, stdio: "ignore" }).on("exit", resolve),
  );
  expect(code).toBe(0);
  child.stdin.write("stop\n");
  await exited;
  return JSON.parse(report);
}

// Each test runs real builds (two TypeScript compiles each): seconds on an idle machine, several times that
// on a loaded one.
describe("scripts/build-package.mjs", { timeout: 180_000 }, () => {
  it("builds ESM into dist/esm and CommonJS into dist/cjs, marked as CommonJS", async () => {
    build();
    const esm = await import(join(pkg, "dist", "esm", "index.js"));
    expect(esm.value).toHaveLength(200_000);
    expect(existsSync(join(pkg, "dist", "cjs", "index.d.ts"))).toBe(true);
    expect(
      spawnSync(process.execPath, ["-p", "require('./dist/cjs/index.js').value.length"], {
        cwd: pkg,
        encoding: "utf8",
      }).stdout.trim(),
    ).toBe("200000");
  });

  it("removes the files of a deleted source and leaves no staging folder", () => {
    writeFileSync(join(pkg, "src", "extra.ts"), "export const extra = 1;\n");
    build();
    expect(existsSync(join(pkg, "dist", "esm", "extra.js"))).toBe(true);
    unlinkSync(join(pkg, "src", "extra.ts"));
    build();
    expect(existsSync(join(pkg, "dist", "esm", "extra.js"))).toBe(false);
    expect(existsSync(join(pkg, "dist", "cjs", "extra.d.ts"))).toBe(false);
    expect(existsSync(join(pkg, "dist", "esm", "value.js"))).toBe(true);
    expect(spawnSync("ls", ["-a", pkg], { encoding: "utf8" }).stdout).not.toMatch(/dist\./);
  });

  it("replaces a file of dist where the build makes a folder, and a folder where it makes a file", () => {
    build();
    mkdirSync(join(pkg, "src", "nested"));
    writeFileSync(join(pkg, "src", "nested", "deep.ts"), "export const deep = 1;\n");
    writeFileSync(join(pkg, "dist", "esm", "nested"), "a file in the folder's place");
    rmSync(join(pkg, "dist", "cjs", "value.js"));
    mkdirSync(join(pkg, "dist", "cjs", "value.js"));
    writeFileSync(join(pkg, "dist", "cjs", "value.js", "stray.js"), "");
    build();
    expect(statSync(join(pkg, "dist", "esm", "nested", "deep.js")).isFile()).toBe(true);
    expect(statSync(join(pkg, "dist", "cjs", "value.js")).isFile()).toBe(true);
    rmSync(join(pkg, "src", "nested"), { recursive: true });
    build();
    expect(existsSync(join(pkg, "dist", "esm", "nested"))).toBe(false);
  });

  it("a reader meanwhile never finds a file missing or half written during a rebuild", async () => {
    build();
    // A separate process reads the two files in a tight loop until told to stop, and reports.
    const counts = (await readWhileRebuilding(
      `const fs = require("node:fs");
         const files = ["dist/esm/value.js", "dist/cjs/value.js"];
         let reads = 0, missing = 0, short = 0, full = 0;
         process.stdin.on("data", () => { console.log(JSON.stringify({ reads, missing, short, full })); process.exit(0); });
         (function loop() {
           for (let i = 0; i < 200; i++) for (const file of files) {
             reads++;
             try { (fs.readFileSync(file, "utf8").length > 200000 ? full++ : short++); } catch { missing++; }
           }
           setImmediate(loop);
         })();`,
    )) as { reads: number; missing: number; short: number; full: number };
    expect(counts.reads).toBeGreaterThan(1000);
    expect(counts).toMatchObject({ missing: 0, short: 0 });
  });
  it("a process loading the package meanwhile always resolves its imports, across a rename of a module", async () => {
    // Many modules, so the files take a while to move; index.ts re-exports from a module whose name
    // changes between the two builds.
    for (let i = 0; i < 200; i++)
      writeFileSync(join(pkg, "src", `filler-${i}.ts`), `export const n${i} = ${i};\n`);
    writeFileSync(join(pkg, "src", "before.ts"), 'export const named = "before";\n');
    writeFileSync(join(pkg, "src", "index.ts"), 'export { named } from "./before.js";\n');
    build();
    unlinkSync(join(pkg, "src", "before.ts"));
    writeFileSync(join(pkg, "src", "after.ts"), 'export const named = "after";\n');
    writeFileSync(join(pkg, "src", "index.ts"), 'export { named } from "./after.js";\n');
    // A separate process requires the CommonJS build afresh in a tight loop until told to stop.
    const seen = (await readWhileRebuilding(
      `const seen = { before: 0, after: 0, failed: 0 };
         process.stdin.on("data", () => { console.log(JSON.stringify(seen)); process.exit(0); });
         (function loop() {
           for (let i = 0; i < 50; i++) {
             for (const id of Object.keys(require.cache)) delete require.cache[id];
             try { seen[require("./dist/cjs/index.js").named]++; } catch { seen.failed++; }
           }
           setImmediate(loop);
         })();`,
    )) as { before: number; after: number; failed: number };
    expect(seen.before).toBeGreaterThan(0);
    expect(seen.failed).toBe(0);
    expect(existsSync(join(pkg, "dist", "cjs", "before.js"))).toBe(false);
  });
  it("removes a leftover staging folder that carries its own process id", () => {
    const run = spawnSync(
      "sh",
      [
        "-c",
        `mkdir -p dist.building-$$/esm && echo stale > dist.building-$$/esm/ghost.js && exec "${process.execPath}" "${script}"`,
      ],
      { cwd: pkg, encoding: "utf8" },
    );
    expect(run.status, run.stderr).toBe(0);
    expect(existsSync(join(pkg, "dist", "esm", "ghost.js"))).toBe(false);
  });

  it("two builds at once, the sources changed between them, leave dist as one of them made it", async () => {
    // Back to the version whose index imports ./before.js, built.
    rmSync(join(pkg, "src", "after.ts"));
    writeFileSync(join(pkg, "src", "before.ts"), 'export const named = "before";\n');
    writeFileSync(join(pkg, "src", "index.ts"), 'export { named } from "./before.js";\n');
    build();
    // The first build stops at its first move until the test says go (after the second build has made
    // its files and had time to move them, unless something holds it back).
    const pause = join(pkg, "pause-first-move.cjs");
    writeFileSync(
      pause,
      `const fs = require("node:fs");
       const rename = fs.renameSync;
       fs.renameSync = (from, to) => {
         if (!fs.existsSync("moving")) fs.writeFileSync("moving", "");
         while (!fs.existsSync("go")) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
         return rename(from, to);
       };`,
    );
    const exit = (child: ReturnType<typeof spawn>) => new Promise((resolve) => child.on("exit", resolve));
    const firstChild = spawn(process.execPath, ["--require", pause, script], { cwd: pkg, stdio: "inherit" });
    const first = exit(firstChild);
    const until = async (done: () => boolean) => {
      while (!done()) await new Promise((resolve) => setTimeout(resolve, 10));
    };
    await until(() => existsSync(join(pkg, "moving")));
    rmSync(join(pkg, "src", "before.ts"));
    writeFileSync(join(pkg, "src", "after.ts"), 'export const named = "after";\n');
    writeFileSync(join(pkg, "src", "index.ts"), 'export { named } from "./after.js";\n');
    const secondChild = spawn(process.execPath, [script], { cwd: pkg, stdio: "inherit" });
    const second = exit(secondChild);
    let secondExited = false;
    void second.then(() => {
      secondExited = true;
    });
    const secondStaged = join(pkg, `dist.building-${secondChild.pid}`, "cjs", "package.json");
    await until(() => secondExited || existsSync(secondStaged));
    await new Promise((resolve) => setTimeout(resolve, 500));
    writeFileSync(join(pkg, "go"), "");
    expect(await Promise.all([first, second])).toEqual([0, 0]);
    for (const file of ["moving", "go", "pause-first-move.cjs"]) rmSync(join(pkg, file));
    const loaded = spawnSync(process.execPath, ["-p", "require('./dist/cjs/index.js').named"], {
      cwd: pkg,
      encoding: "utf8",
    });
    expect(loaded.status, loaded.stderr).toBe(0);
    const version = loaded.stdout.trim();
    const other = version === "after" ? "before" : "after";
    for (const folder of ["esm", "cjs"]) {
      expect(existsSync(join(pkg, "dist", folder, `${version}.js`))).toBe(true);
      expect(existsSync(join(pkg, "dist", folder, `${other}.js`))).toBe(false);
    }
    expect(existsSync(join(pkg, "dist.lock"))).toBe(false);
  });
});
