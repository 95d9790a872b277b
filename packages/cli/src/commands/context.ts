import type { Invocation } from "../args.js";
import type { ExitCode } from "../errors.js";
import type { Io } from "../output.js";
import type { OpenStore } from "../stores/types.js";

/** What a command runs with: the command line, the open store, and where to write. */
export interface CommandContext {
  invocation: Invocation;
  open: OpenStore;
  io: Io;
}

export type Command = (context: CommandContext) => Promise<ExitCode>;
