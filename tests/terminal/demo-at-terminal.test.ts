// The README's `pnpm demo` at a terminal. Each run starts with the README's turbo build, and turbo
// restoring a build from its cache deletes and rewrites every file of the package's dist (seen with
// strace: unlink, then create): another test loading that package in the same instant reads a missing or
// half-written file (a chaos worker once failed on packages/sqlite/dist/esm/options.js). So these cases
// run on their own, after the rest of `pnpm test` (the root script's last step, `test:terminal`).
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { spareLoopbackPort } from "../spare-port.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");

describe("the orders demo at a terminal (pnpm demo)", () => {
  // The README's own commands at a terminal: `script` (util-linux) gives them a pseudo-terminal, where
  // Ctrl-C is the byte 0x03 typed on it, as a user's keyboard sends it.
  const haveScript = spawnSync("script", ["--version"]).status === 0;
  const atTerminal = async (command: string) => {
    const port = await spareLoopbackPort();
    const child = spawn("script", ["-qfec", command, "/dev/null"], {
      cwd: root,
      env: { ...process.env, PORT: String(port) },
    });
    let output = "";
    child.stdout.on("data", (chunk) => {
      output += chunk;
    });
    const exit = new Promise<number | null>((resolve) => child.on("exit", resolve));
    const printed = async (text: string) => {
      for (let i = 0; i < 900 && !output.includes(text); i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(output).toContain(text);
    };
    return { child, exit, printed, output: () => output };
  };
  const skipped = haveScript ? "" : " (skipped: no script command)";

  it.skipIf(!haveScript)(
    `Ctrl-C at a terminal stops pnpm demo --serve with exit 0 and removes its SQLite file${skipped}`,
    { timeout: 120_000 },
    async () => {
      const demo = await atTerminal("pnpm demo --serve");
      await demo.printed("stops the server");
      const file = /SQLite file (\S+?)\)/.exec(demo.output())?.[1];
      expect(file, demo.output()).toBeDefined();
      expect(existsSync(file!)).toBe(true);
      demo.child.stdin.write("\x03");
      expect(await demo.exit, demo.output()).toBe(0);
      expect(demo.output()).not.toMatch(/ELIFECYCLE|Command failed/);
      expect(existsSync(file!)).toBe(false);
    },
  );

  it.skipIf(!haveScript)(
    `at a terminal, pnpm demo runs to its end and exits; Ctrl-C midway exits 0 and removes its file${skipped}`,
    { timeout: 180_000 },
    async () => {
      const whole = await atTerminal("pnpm demo --operations 200");
      expect(await whole.exit, whole.output()).toBe(0);
      expect(whole.output()).toMatch(/demo: 200 operations, .* 0 duplicates/);

      const stopped = await atTerminal("pnpm demo --operations 100000");
      await stopped.printed("Ctrl-C stops");
      stopped.child.stdin.write("\x03");
      expect(await stopped.exit, stopped.output()).toBe(0);
      expect(stopped.output()).toContain("demo stopped before the end");
      expect(stopped.output()).not.toMatch(/ELIFECYCLE|Command failed/);
      const file = /SQLite file (\S+?)\)/.exec(stopped.output())?.[1];
      expect(file, stopped.output()).toBeDefined();
      expect(existsSync(file!)).toBe(false);
    },
  );
});
