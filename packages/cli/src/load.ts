import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { CliError, EXIT } from "./errors.js";

/** Whether `error` says that `name` itself (not something it imports) cannot be found. */
function notFound(error: unknown, name: string): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return (
    (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") &&
    typeof message === "string" &&
    (message.includes(`'${name}'`) || message.includes(`"${name}"`) || message.includes(`/${name}/`))
  );
}

/**
 * Loads an optional package (a store package or its driver) when a command needs it: from where the CLI
 * is installed, else from the current directory's project (a CLI installed globally, run in an app that
 * has the store). Neither: a `CliError` (exit 3) saying what to install.
 */
export async function loadOptional<T>(name: string, forWhat: string, install: string): Promise<T> {
  try {
    return (await import(name)) as T;
  } catch (error) {
    if (!notFound(error, name)) throw error;
  }
  let resolved: string | undefined;
  try {
    resolved = createRequire(join(process.cwd(), "package.json")).resolve(name);
  } catch {
    resolved = undefined;
  }
  if (resolved !== undefined) {
    // A file URL for import() in ESM; this module's CommonJS build loads with require(), which takes a path.
    return (await import(typeof require === "function" ? resolved : pathToFileURL(resolved).href)) as T;
  }
  throw new CliError(EXIT.UNAVAILABLE, `${forWhat} needs ${name}, which is not installed: ${install}`);
}

/** A CommonJS module's export `name`, however it was imported (named, or on `default`). */
export function exported<T>(module: unknown, name: string): T {
  const mod = module as Record<string, unknown> & { default?: Record<string, unknown> };
  const value = mod[name] ?? mod.default?.[name];
  if (value === undefined)
    throw new CliError(EXIT.UNAVAILABLE, `the installed package has no export ${name}`);
  return value as T;
}
