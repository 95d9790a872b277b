/** The lease of the claims `abandon` leaves behind; the takeover scenario waits past it. */
export const TAKEOVER_LEASE_MS = 150;

/** The stores the bench knows. */
export type StoreName = "memory" | "sqlite" | "redis" | "node-redis" | "postgres" | "mysql" | "dynamodb";

/** Who runs the work: idemkit's `run()`, the hand-written baseline, or a peer library. */
export type ContenderName = "idemkit" | "baseline" | "powertools" | "node-idempotency";

/** Thrown by a contender when the key is taken by a live in-flight attempt (409 in HTTP terms). */
export class InFlightError extends Error {
  override readonly name = "InFlightError";
}

/**
 * One way of running work at most once per key. Every contender of a store gets the same keys, inputs
 * and outcomes, in the same run, and the same server, but for DynamoDB: by default each runs in a
 * process of its own (runner.ts), on its own client (and its own dynalite); with
 * `--contenders-together` they share one client (and one dynalite) in the store's process.
 */
export interface Contender {
  readonly name: ContenderName;
  readonly store: StoreName;
  /** Display name when it differs from `name` (a peer in a non-default configuration). */
  readonly label?: string;
  /**
   * Runs `work` unless `key` already has an outcome (then returns it decoded) or a live in-flight
   * attempt (then throws). Every contender checks that `input` matches the first one's.
   */
  run(key: string, input: unknown, work: () => Promise<unknown>): Promise<unknown>;
  /**
   * Leaves `key` claimed with a lease of `TAKEOVER_LEASE_MS` that nobody renews, as a crashed owner
   * would. Absent when the contender has no lease separate from retention (takeover not comparable).
   */
  abandon?(key: string, input: unknown): Promise<void>;
  /** Why `abandon` is absent, for the report. */
  readonly noTakeover?: string;
  /** Removes this contender's keys and releases what it opened (never a shared client). */
  close(): Promise<void>;
}
