/**
 * The CLI's exit codes, one per kind of outcome, so that a script can tell them apart:
 * 0 done; 1 the key has no live record (inspect, purge); 2 the command line is wrong (a usage error, a
 * bad or missing URL); 3 something it needs is not installed, or the store cannot do it; 4 the store
 * failed or did not answer.
 */
export const EXIT = {
  OK: 0,
  NOT_FOUND: 1,
  USAGE: 2,
  UNAVAILABLE: 3,
  STORE: 4,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The name of each exit code in `--json` error output. */
export const EXIT_NAMES: Record<ExitCode, string> = {
  0: "ok",
  1: "not_found",
  2: "usage",
  3: "unavailable",
  4: "store",
};

/** A failure the CLI reports in one line (never a stack trace), with its exit code. */
export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "CliError";
  }
}

/** A usage error: the command line is wrong. */
export const usage = (message: string) => new CliError(EXIT.USAGE, message);
