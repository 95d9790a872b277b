import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { CommandCount } from "./counts.js";
import type { BurstCheck, NotComparable, Row } from "./main.js";

/** What one store's process measured: main.ts's results for that store, as JSON. */
export interface Part {
  rows: Row[];
  counts: CommandCount[];
  bursts: BurstCheck[];
  notComparable: NotComparable[];
  skipped: string[];
  versions: string[];
}

const MAIN = fileURLToPath(new URL("./main.ts", import.meta.url));

/**
 * Measures one store in a process of its own (`main.ts --part`, with Node's arguments of this one), so
 * that another store's garbage, heap and compiled code never land in its numbers (a full run in one
 * process read SQLite replays at 0.24× after the memory store's 64 KiB outcomes). Its output goes to
 * this one's; what it measured comes back, or why it measured nothing.
 */
export async function measureApart(store: string, args: readonly string[]): Promise<Part | string> {
  const dir = mkdtempSync(join(tmpdir(), "idemkit-bench-"));
  const file = join(dir, "part.json");
  try {
    const ended = await new Promise<string | undefined>((resolve) => {
      const child = spawn(
        process.execPath,
        [...process.execArgv, MAIN, ...args, "--stores", store, "--part", file],
        { stdio: "inherit" },
      );
      child.on("error", (error) => resolve(error.message));
      child.on("exit", (code, signal) =>
        resolve(code === 0 ? undefined : `its process ended with ${signal ?? `code ${code}`}`),
      );
    });
    return ended ?? (JSON.parse(readFileSync(file, "utf8")) as Part);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
