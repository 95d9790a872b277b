import { type CommandName, type Invocation, parseCommandLine } from "./args.js";
import type { Command } from "./commands/context.js";
import { inspect } from "./commands/inspect.js";
import { list } from "./commands/list.js";
import { ping } from "./commands/ping.js";
import { purge } from "./commands/purge.js";
import { purgeExpired } from "./commands/purge-expired.js";
import { stats } from "./commands/stats.js";
import { parseTarget, storeUrl } from "./connection.js";
import { CliError, EXIT, EXIT_NAMES, type ExitCode, usage } from "./errors.js";
import { type Io, json } from "./output.js";
import { messageOf, openStore } from "./stores/index.js";
import { USAGE } from "./usage.js";

const COMMANDS: Record<CommandName, Command> = {
  inspect,
  list,
  purge,
  "purge-expired": purgeExpired,
  stats,
  ping,
};

/** The commands that write: on SQLite the file is opened read-only for the others. */
const WRITES: ReadonlySet<CommandName> = new Set(["purge", "purge-expired"]);

/** The standard streams, environment and clock of this process. */
export const processIo = (): Io => ({
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  now: Date.now,
});

/**
 * Runs the CLI on `argv` (the arguments after `idemkit`) and resolves with its exit code. Never rejects:
 * every failure is one line on stderr (one JSON document with `--json`), without a stack trace unless
 * `IDEMKIT_DEBUG` is set.
 */
export async function runCli(
  argv: readonly string[],
  io: Io = processIo(),
  version = "unknown",
): Promise<ExitCode> {
  const wantsJson = argv.includes("--json");
  let invocation: Invocation;
  try {
    const parsed = parseCommandLine(argv);
    if (parsed.command === "help") {
      io.stdout(USAGE);
      return EXIT.OK;
    }
    if (parsed.command === "version") {
      io.stdout(`${version}\n`);
      return EXIT.OK;
    }
    invocation = parsed;
  } catch (error) {
    return report(io, wantsJson, error instanceof CliError ? error : usage(messageOf(error)));
  }
  try {
    const { url } = storeUrl(invocation.url, io.env);
    const target = parseTarget(url);
    const open = await openStore(target, url, {
      ...invocation.store,
      writes: WRITES.has(invocation.command),
    });
    try {
      return await COMMANDS[invocation.command]({ invocation, open, io });
    } finally {
      await open.close();
    }
  } catch (error) {
    return report(io, invocation.json, error);
  }
}

/** A store's `list` refused what the command line gave it (`checkListFilter`: a cursor not of its listing). */
const refusedFilter = (error: unknown) =>
  (error instanceof TypeError || error instanceof RangeError) &&
  /^\S+( memory store)?: list: /.test(error.message);

/** Writes the failure (never its stack, unless IDEMKIT_DEBUG is set) and returns its exit code. */
function report(io: Io, asJson: boolean, error: unknown): ExitCode {
  const failure =
    error instanceof CliError
      ? error
      : refusedFilter(error)
        ? new CliError(EXIT.USAGE, messageOf(error), { cause: error })
        : new CliError(EXIT.STORE, `the store failed: ${messageOf(error)}`, { cause: error });
  if (asJson) {
    io.stderr(
      json({
        error: { code: EXIT_NAMES[failure.exitCode], exit: failure.exitCode, message: failure.message },
      }),
    );
  } else {
    io.stderr(`idemkit: ${failure.message}\n`);
  }
  if (io.env.IDEMKIT_DEBUG) io.stderr(`${(failure.cause as Error | undefined)?.stack ?? failure.stack}\n`);
  return failure.exitCode;
}
