import type { Cluster as IoredisCluster, Redis as IoredisRedis } from "ioredis";
import type { Argument } from "./clients.js";

/**
 * Sends a command whose arguments are already flat. The array becomes the command's: ioredis turns its
 * numbers into strings and prefixes its keys in place, so pass a fresh one each time.
 */
export type Sender = (name: string, args: (Argument | number)[]) => Promise<unknown>;

interface CommandOptions {
  replyEncoding: null;
  keyPrefix: unknown;
  errorStack: Error | undefined;
}
type CommandClass = new (name: string, args: unknown, options: CommandOptions) => { args: unknown[] };

/**
 * An ioredis client's commands, made as its builtin `*Buffer` commands make them (the same `Command`,
 * with the client's keyPrefix and friendly error stack, bulk replies kept as Buffers, sent with
 * `sendCommand`, no auto-pipelining) but without the copy of their arguments that ioredis makes with
 * `Array.prototype.flat`: on Node 20 that moves each element through V8's runtime, ~9,000 instructions
 * for a claim's eight (callgrind, the bench's HTTP route: ~2% of a request). The `Command` gets
 * something whose `flat()` is the arguments as they are. `undefined` for an ioredis whose `Command`
 * copies its arguments otherwise: its builtin commands are used.
 */
export function senderOf(client: IoredisRedis | IoredisCluster): Sender | undefined {
  const Command = commandClassOf(client);
  if (Command === undefined) return undefined;
  const options = client.options as { keyPrefix?: unknown; showFriendlyErrorStack?: unknown };
  const send: Sender = (name, args) => {
    const command = new Command(name, asTheyAre(args), {
      replyEncoding: null,
      keyPrefix: options.keyPrefix,
      errorStack: options.showFriendlyErrorStack ? stackFrom(send) : undefined,
    });
    return client.sendCommand(command as never) as Promise<unknown>;
  };
  return send;
}

/** An error whose stack starts at the caller of `fn`, as ioredis's own friendly stacks do. */
function stackFrom(fn: Sender): Error {
  const error = new Error();
  Error.captureStackTrace?.(error, fn);
  return error;
}

/** What `Command` flattens: the arguments, as they are. */
const asTheyAre = (args: unknown[]) => ({ flat: () => args });

/**
 * The class the client's own builtin commands are made of, found by making one on a stand-in that
 * hands it back instead of sending it (ioredis mixes `EventEmitter` into its clients, so
 * `client.constructor` is not their class; nor does the store import ioredis: the user's copy is the
 * one to use). `undefined` unless a `Command` of it takes its arguments from `flat()`.
 */
function commandClassOf(client: IoredisRedis | IoredisCluster): CommandClass | undefined {
  try {
    const make = client.createBuiltinCommand("get").buffer as (this: unknown, key: string) => unknown;
    const made = make.call({ options: {}, sendCommand: (command: unknown) => command }, "probe");
    const Command = (made as { constructor?: unknown } | null)?.constructor;
    if (typeof Command !== "function") return undefined;
    const probe: unknown[] = ["probe"];
    const options: CommandOptions = { replyEncoding: null, keyPrefix: undefined, errorStack: undefined };
    const check = new (Command as CommandClass)("get", asTheyAre(probe), options);
    return check.args === probe ? (Command as CommandClass) : undefined;
  } catch {
    return undefined;
  }
}
