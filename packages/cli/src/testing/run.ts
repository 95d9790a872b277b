// Test support, neither built nor published: the built bin, run as a child process the way an operator
// runs it, with a clean environment (no store URL unless a test gives one).
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

export const BIN = fileURLToPath(new URL("../../dist/esm/bin.js", import.meta.url));

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

// Not inherited: the store URLs, and pnpm's NODE_PATH (it would let require() find any package of the
// workspace, which an operator's machine does not have).
const DROPPED = ["IDEMKIT_STORE_URL", "REDIS_URL", "DATABASE_URL", "IDEMKIT_DEBUG", "NODE_PATH"];
const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !DROPPED.includes(name)));

/** Runs `idemkit …args` and resolves with its exit code and output (never rejects on a non-zero exit). */
export function idemkit(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string; bin?: string } = {},
): Promise<Ran> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [options.bin ?? BIN, ...args],
      {
        env: { ...inherited, ...options.env },
        cwd: options.cwd,
        timeout: 25_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== "number") reject(error);
        else resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
      },
    );
  });
}

/** The parsed JSON document a `--json` run printed on stdout; if none, a failure that shows the run. */
export function parsed(ran: Ran): Record<string, unknown> {
  try {
    return JSON.parse(ran.stdout) as Record<string, unknown>;
  } catch (error) {
    throw new Error(
      `expected a JSON document on stdout; the run exited ${ran.code} with stdout ${JSON.stringify(ran.stdout)} and stderr ${JSON.stringify(ran.stderr)}`,
      { cause: error },
    );
  }
}

/** A run's stderr says one thing, on one line, with no stack trace. */
export function oneLine(ran: Ran): string {
  const lines = ran.stderr.trimEnd().split("\n");
  if (lines.length !== 1 || /^\s+at /m.test(ran.stderr))
    throw new Error(`expected one line on stderr, got:\n${ran.stderr}`);
  return lines[0] as string;
}
