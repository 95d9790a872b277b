import type { IdempotencyEvent, IdempotencyEventListener } from "./events.js";

/** A log method as pino, bunyan and console all take it: fields first, then the message. */
export type LogMethod = (fields: Record<string, unknown>, message: string) => void;

/** A logger events can be written to: pino, bunyan, console, or anything with these methods. */
export interface EventLogger {
  debug?: LogMethod;
  info: LogMethod;
  warn: LogMethod;
  error: LogMethod;
}

export interface LogEventsOptions {
  /**
   * Log the state machine's own events too (`claimed`, `completed`, `released`, `replayed`,
   * `conflict`, `mismatch`, `store-call`), at `debug`, when the logger has it. Default `false`: one
   * line per call, and warnings and errors.
   */
  details?: boolean;
  /**
   * Log stored keys. Default `false`: a key may be sensitive (an order number, an email address, the
   * scope's account id), and logs travel far.
   */
  recordKeys?: boolean;
}

type Level = "debug" | "info" | "warn" | "error";

/** The level of how a call ended: what a caller got wrong warns, a store that fails is an error. */
const OUTCOME_LEVEL = {
  executed: "info",
  replayed: "info",
  conflict: "info",
  mismatch: "warn",
  rejected: "warn",
  failed: "warn",
  unavailable: "error",
} as const;

/**
 * A listener that writes idemkit's events to `logger`, one line per idempotent call (`finished`: info,
 * warn for a mismatch, a rejected request or work that threw, error when the store was unavailable),
 * plus `takeover` and `lease-lost` (warn) and `store-error` (error): `idem.on(logEvents(pino()))`.
 * Fields go under `idemkit`; an error under `err`, where pino's serializer looks.
 */
export function logEvents(logger: EventLogger, options: LogEventsOptions = {}): IdempotencyEventListener {
  checkLogger(logger);
  const details = options.details === true;
  const recordKeys = options.recordKeys === true;
  return (event) => {
    const level = levelOf(event, details);
    const log = level && logger[level];
    if (typeof log !== "function") return;
    const { type, at: _at, key, error, ...rest } = event as IdempotencyEvent & { error?: unknown };
    const idemkit: Record<string, unknown> = { event: type, ...rest };
    if (recordKeys && key !== undefined) idemkit.key = key;
    const fields: Record<string, unknown> = { idemkit };
    if (error !== undefined) fields.err = error;
    log.call(logger, fields, messageOf(event));
  };
}

/**
 * Refuses, when given, a logger that lacks `info`, `warn` or `error`: a listener's errors are swallowed,
 * so warnings and errors would otherwise be dropped without a word (`debug` is optional).
 */
function checkLogger(logger: EventLogger): void {
  if (logger === null || typeof logger !== "object") {
    throw new TypeError("logEvents needs a logger (pino, bunyan, console: info, warn and error methods)");
  }
  for (const level of ["info", "warn", "error"] as const) {
    if (typeof logger[level] !== "function")
      throw new TypeError(`logEvents: the logger has no ${level} method`);
  }
}

function levelOf(event: IdempotencyEvent, details: boolean): Level | undefined {
  switch (event.type) {
    case "finished":
      return OUTCOME_LEVEL[event.outcome];
    case "takeover":
    case "lease-lost":
      return "warn";
    case "store-error":
      return "error";
    default:
      return details ? "debug" : undefined;
  }
}

/** A line a person reads: what happened, without the key. */
function messageOf(event: IdempotencyEvent): string {
  switch (event.type) {
    case "finished": {
      const what = event.http
        ? `${event.http.method} ${event.http.path ?? "(no path)"}`
        : `run${event.name === undefined ? "" : ` ${event.name}`}`;
      const status = event.http?.status === undefined ? "" : ` ${event.http.status}`;
      return `idemkit: ${what} ${event.outcome}${status} in ${Math.round(event.durationMs)} ms`;
    }
    case "store-error":
      return `idemkit: store ${event.operation} failed`;
    case "store-call":
      return `idemkit: store ${event.operation} in ${Math.round(event.durationMs)} ms`;
    case "lease-lost":
      return `idemkit: lease lost (${event.phase}), fence ${event.fence}`;
    case "takeover":
      return `idemkit: key taken over from an expired lease, fence ${event.fence}`;
    default:
      return `idemkit: ${event.type}`;
  }
}
