export { COMMANDS, type CommandName } from "./args.js";
export { SCHEMES, URL_VARIABLES } from "./connection.js";
export { CliError, EXIT, type ExitCode } from "./errors.js";
export { processIo, runCli } from "./main.js";
export type { Io } from "./output.js";
