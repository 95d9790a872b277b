import { parseArgs } from "node:util";
import { composeStoredKey } from "@idemkit/core";
import { parseDuration } from "./duration.js";
import { usage } from "./errors.js";
import type { StoreOptions } from "./stores/types.js";

export const COMMANDS = ["inspect", "list", "purge", "purge-expired", "stats", "ping"] as const;
export type CommandName = (typeof COMMANDS)[number];

/** The command line, checked: what to run, on which store, with what. */
export interface Invocation {
  command: CommandName;
  /** inspect, purge: the stored key (composed with `--scope` when given). */
  key?: string;
  json: boolean;
  url?: string;
  store: Omit<StoreOptions, "writes">;
  /** list, stats: what to select. */
  state?: "in_progress" | "completed";
  olderThanMs?: number;
  prefix?: string;
  /** list: the most records to print (default 100), and where to start. */
  limit: number;
  cursor?: string;
  /** inspect: print the outcome bytes too. */
  outcome: boolean;
}

export type Parsed = Invocation | { command: "help" } | { command: "version" };

const OPTIONS = {
  url: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean" },
  timeout: { type: "string" },
  table: { type: "string" },
  schema: { type: "string" },
  collection: { type: "string" },
  "redis-prefix": { type: "string" },
  "redis-client": { type: "string" },
  scope: { type: "string" },
  run: { type: "boolean" },
  "key-prefix": { type: "string" },
  "in-progress": { type: "boolean" },
  completed: { type: "boolean" },
  "older-than": { type: "string" },
  prefix: { type: "string" },
  limit: { type: "string" },
  cursor: { type: "string" },
  outcome: { type: "boolean" },
} as const;

type OptionName = keyof typeof OPTIONS;

/** The options that belong to some commands only; every other option goes with any command. */
const ONLY: Partial<Record<OptionName, readonly CommandName[]>> = {
  scope: ["inspect", "purge", "list", "stats"],
  run: ["inspect", "purge", "list", "stats"],
  "key-prefix": ["inspect", "purge", "list", "stats"],
  "in-progress": ["list"],
  completed: ["list"],
  "older-than": ["list", "stats"],
  prefix: ["list", "stats"],
  limit: ["list"],
  cursor: ["list"],
  outcome: ["inspect"],
};

/** The default of `--timeout`. */
const DEFAULT_TIMEOUT_MS = 10_000;
/** The default of `list --limit`. */
const DEFAULT_LIMIT = 100;

/** `node:util` parseArgs' own errors, reworded without its advice about positionals. */
function parseError(error: unknown): Error {
  const message = (error as Error).message ?? String(error);
  const unknown = /^Unknown option '([^']+)'/.exec(message);
  if (unknown) return usage(`unknown option ${unknown[1]} (see idemkit --help)`);
  const missing = /^Option '(?:-\w, )?(--[\w-]+) <value>' argument missing/.exec(message);
  if (missing) return usage(`${missing[1]} needs a value`);
  // `--limit -1`: parseArgs' three lines of advice, as the one line a failure is.
  const dashed = /^Option '(?:-\w, )?(--[\w-]+)' argument is ambiguous/.exec(message);
  if (dashed) return usage(`${dashed[1]} got a value starting with "-": write ${dashed[1]}=<value>`);
  return usage(message.split(/\.\s/)[0] ?? message);
}

/** Parses and checks the command line (everything after `idemkit`): a usage error for anything wrong. */
export function parseCommandLine(argv: readonly string[]): Parsed {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw parseError(error);
  }
  const { values, positionals } = parsed;
  if (values.help) return { command: "help" };
  if (values.version) return { command: "version" };
  const [name, ...rest] = positionals;
  if (name === undefined)
    throw usage(
      "no command: give one of inspect, list, purge, purge-expired, stats, ping (see idemkit --help)",
    );
  if (!(COMMANDS as readonly string[]).includes(name)) {
    throw usage(
      `unknown command ${JSON.stringify(name)}: give one of ${COMMANDS.join(", ")} (see idemkit --help)`,
    );
  }
  const command = name as CommandName;
  for (const [option, commands] of Object.entries(ONLY)) {
    if (values[option as OptionName] !== undefined && !commands.includes(command)) {
      throw usage(`--${option} is an option of ${commands.join(", ")}, not of ${command}`);
    }
  }
  const takesKey = command === "inspect" || command === "purge";
  if (takesKey && rest.length !== 1) {
    throw usage(
      `${command} takes one key${rest.length > 1 ? `, not ${rest.length} (quote a key with spaces)` : `: idemkit ${command} <key>`}`,
    );
  }
  if (!takesKey && rest.length > 0)
    throw usage(`${command} takes no argument; got ${JSON.stringify(rest[0])}`);
  if ((values.run || values["key-prefix"] !== undefined) && values.scope === undefined) {
    throw usage(
      `--${values.run ? "run" : "key-prefix"} goes with --scope (to compose a key the way the app does)`,
    );
  }
  if (values["in-progress"] && values.completed)
    throw usage("--in-progress and --completed exclude each other");
  const redisClient = values["redis-client"];
  if (redisClient !== undefined && redisClient !== "ioredis" && redisClient !== "node-redis") {
    throw usage(`--redis-client takes ioredis or node-redis; got ${JSON.stringify(redisClient)}`);
  }
  for (const option of ["table", "schema", "collection", "scope", "cursor"] as const) {
    if (values[option] === "") throw usage(`--${option} is empty`);
  }

  /** `key` as the app stores it: with `--scope`, composed like core does (prefix, namespace, scope). */
  const stored = (key: string) =>
    values.scope === undefined
      ? key
      : composeStoredKey(values["key-prefix"] ?? "idem:", values.run ? "run" : "http", values.scope, key);
  const scopePrefix = values.scope === undefined ? "" : stored("");
  return {
    command,
    key: takesKey ? stored(rest[0] as string) : undefined,
    json: values.json ?? false,
    url: values.url,
    store: {
      table: values.table,
      schema: values.schema,
      collection: values.collection,
      redisPrefix: values["redis-prefix"],
      redisClient,
      timeoutMs:
        values.timeout === undefined
          ? DEFAULT_TIMEOUT_MS
          : positive("--timeout", parseDuration("--timeout", values.timeout)),
    },
    state: values["in-progress"] ? "in_progress" : values.completed ? "completed" : undefined,
    olderThanMs:
      values["older-than"] === undefined ? undefined : parseDuration("--older-than", values["older-than"]),
    prefix:
      values.scope === undefined && values.prefix === undefined
        ? undefined
        : scopePrefix + (values.prefix ?? ""),
    limit: values.limit === undefined ? DEFAULT_LIMIT : count(values.limit),
    cursor: values.cursor,
    outcome: values.outcome ?? false,
  };
}

function positive(option: string, ms: number): number {
  if (ms < 1 || ms > 2 ** 31 - 1) throw usage(`${option} must be from 1ms to about 24 days`);
  return ms;
}

/** `--limit`: a whole number of records from 1 (read in pages of at most 1000 until it is reached). */
function count(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1) {
    throw usage(`--limit takes a whole number of records from 1; got ${JSON.stringify(text)}`);
  }
  return n;
}
