/**
 * Checks for options given by users: each failure names the option and what it accepts, and is
 * thrown when the options are given, never on a request.
 */

/** The longest delay a Node timer can hold (2^31 - 1 ms); a longer one fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Throws a `TypeError` naming any option `where` does not know (a misspelt `leaseMS`, say). */
export function rejectUnknownOptions(where: string, options: object, known: ReadonlySet<string>): void {
  for (const name of Object.keys(options)) {
    if (!known.has(name) && (options as Record<string, unknown>)[name] !== undefined) {
      throw new TypeError(`${where}: unknown option "${name}" (known: ${[...known].sort().join(", ")})`);
    }
  }
}

/** An integer in `[min, max]`, or the default when `undefined`. */
export function integerOption(
  name: string,
  value: unknown,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}; got ${describe(value)}`);
  }
  return value;
}

export function functionOption<F>(name: string, value: unknown): F | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "function") throw new TypeError(`${name} must be a function; got ${describe(value)}`);
  return value as F;
}

export function booleanOption(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean")
    throw new TypeError(`${name} must be true or false; got ${describe(value)}`);
  return value;
}

export function oneOfOption<T extends string>(
  name: string,
  value: unknown,
  allowed: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T)) {
    throw new TypeError(
      `${name} must be one of ${allowed.map((a) => `"${a}"`).join(", ")}; got ${describe(value)}`,
    );
  }
  return value as T;
}

/** RFC 9110 token: the characters a header or method name may contain. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function tokenOption(name: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== "string" || !TOKEN.test(value)) {
    throw new TypeError(
      `${name} must be an HTTP token (letters, digits, !#$%&'*+-.^_\`|~); got ${describe(value)}`,
    );
  }
  return value;
}

export function tokenListOption(name: string, value: unknown, fallback: readonly string[]): string[] {
  if (value === undefined) return [...fallback];
  if (!Array.isArray(value))
    throw new TypeError(`${name} must be an array of HTTP tokens; got ${describe(value)}`);
  return value.map((item, i) => tokenOption(`${name}[${i}]`, item, ""));
}

export function describe(value: unknown): string {
  if (typeof value === "string")
    return JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}…` : value);
  if (typeof value === "number" || typeof value === "boolean" || value == null) return String(value);
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "function") return "a function";
  return Array.isArray(value) ? "an array" : typeof value === "object" ? "an object" : `a ${typeof value}`;
}
