// `pnpm test` runs the parallel part, then the tests at a terminal, through scripts/run-each.mjs: the
// second part runs even when the first fails, and the whole fails if either did.
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const script = join(root, "scripts", "run-each.mjs");
const runEach = (...commands: string[]) =>
  spawnSync(process.execPath, [script, ...commands], { encoding: "utf8" });

describe("scripts/run-each.mjs", () => {
  it("runs every command after one fails, and fails", () => {
    const run = runEach("exit 3", "echo second ran");
    expect(run.stdout).toContain("second ran");
    expect(run.stderr).toContain("`exit 3` failed (3)");
    expect(run.status).toBe(1);
  });

  it("succeeds when every command does", () => {
    const run = runEach("echo one", "echo two");
    expect(run.stdout).toBe("one\ntwo\n");
    expect(run.status).toBe(0);
  });

  it("passes what pnpm appends (from the first argument starting with -) to the first command, quoted", () => {
    const run = runEach("echo first", "echo second", "--", "--filter", "it's $HOME");
    expect(run.stdout).toBe("first --filter it's $HOME\nsecond\n");
    expect(run.status).toBe(0);
  });

  it("passes a signal to the running command and everything it started, then stops", async () => {
    // A sleep of its own length, under a shell that waits for it (a child of the command, not the command).
    const sleep = `sleep 29.${process.pid}`;
    const child = spawn(process.execPath, [script, `${sleep}; echo slept`, "echo second ran"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
    });
    child.stderr.on("data", (chunk) => {
      out += chunk;
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    const running = () => spawnSync("pgrep", ["-f", `^${sleep}$`], { encoding: "utf8" }).stdout.trim();
    while (running() === "") await new Promise((resolve) => setTimeout(resolve, 20));
    child.kill("SIGTERM");
    expect(await exited).toBe(143);
    expect(out).toContain("stopped by SIGTERM");
    expect(out).not.toContain("second ran");
    expect(out).not.toMatch(/^slept$/m);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(running()).toBe("");
  });

  it("stops the sequence when a command is stopped by a signal", () => {
    const run = runEach("kill -INT $$", "echo second ran");
    expect(run.stdout).not.toContain("second ran");
    expect(run.stderr).toContain("stopped by SIGINT");
    expect(run.status).toBe(130);
  });

  it("is how pnpm test runs the parallel part and then the tests at a terminal", () => {
    const { scripts } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
    expect(scripts.test).toMatch(/^node scripts\/run-each\.mjs /);
    const parallel = scripts.test.search(/\bturbo run test\b/);
    expect(parallel).toBeGreaterThan(0);
    expect(parallel).toBeLessThan(scripts.test.indexOf("test:terminal"));
  });
});
