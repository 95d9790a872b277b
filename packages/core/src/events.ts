import type { ProblemType } from "./http/problems.js";
import { isThenable } from "./thenable.js";

/**
 * Every event carries the stored key and a timestamp (`Date.now()`); each type adds what it knows.
 * Durations are in milliseconds, on the monotonic clock.
 */
export interface EventBase {
  key: string;
  at: number;
}

export type IdempotencyEvent =
  | (EventBase & { type: "claimed"; fence: number; durationMs: number })
  | (EventBase & { type: "takeover"; fence: number })
  | (EventBase & { type: "replayed"; durationMs: number })
  | (EventBase & { type: "conflict"; durationMs: number })
  | (EventBase & { type: "mismatch"; durationMs: number })
  | (EventBase & { type: "completed"; fence: number; durationMs: number; bytes: number })
  | (EventBase & { type: "released"; fence: number; durationMs: number; reason: "error" | "not-stored" })
  /**
   * The lease is lost (`heartbeat`: not renewed in time or refused; `complete`, `release`: the CAS
   * was refused), or no longer renewed because the handler held its key for `maxHoldMs`
   * (`max-hold`: the key frees when the last renewal ends). Once per lease.
   */
  | (EventBase & {
      type: "lease-lost";
      fence: number;
      phase: "heartbeat" | "complete" | "release" | "max-hold";
    })
  /** A store call that answered, whatever it said; one that failed or timed out is a `store-error`. */
  | (EventBase & { type: "store-call"; operation: StoreOperation; durationMs: number })
  | (EventBase & { type: "store-error"; operation: StoreOperation; durationMs: number; error: unknown })
  | FinishedEvent;

/**
 * How one idempotent call ended: once per covered HTTP request that carries a key (or is rejected
 * for want of a valid one), once per `run()`. The other events tell what the state machine did; this
 * one tells what the caller got, for traces, metrics and request logs.
 */
export interface FinishedEvent {
  type: "finished";
  /** The stored key; `undefined` when the request was rejected before it had one. */
  key: string | undefined;
  at: number;
  outcome: CallOutcome;
  /** From the start of the call (the HTTP request reaching idemkit, the `run()` call) to its end. */
  durationMs: number;
  /** The fence of the claim this call held (`executed`, `failed`). */
  fence?: number;
  /** The HTTP request, for an HTTP call. */
  http?: FinishedHttp;
  /** The `name` given to `run()`. */
  name?: string;
  /** Why a `rejected` request was answered before any claim. */
  reason?: ProblemType;
  /** What the work threw (`failed`), or the store's failure (`unavailable`). */
  error?: unknown;
}

/**
 * What the caller got. `executed`: this call ran the work (its response or value is stored, or the key
 * released for a status that is not stored). `replayed`: the stored outcome (a 410 for one that was
 * not replayable). `conflict`: the key was in progress (409, `ConflictError`). `mismatch`: the key was
 * used with another request (422, `MismatchError`). `unavailable`: the store could not say (503,
 * `StoreUnavailableError`; with `failOpen` the request then ran unprotected). `rejected`: answered
 * before any claim (400, 413). `failed`: the work threw, and the key was released.
 */
export type CallOutcome =
  | "executed"
  | "replayed"
  | "conflict"
  | "mismatch"
  | "unavailable"
  | "rejected"
  | "failed";

/** The outcome of a claim that did not acquire the key. */
export const OUTCOME_OF_DECISION = {
  replay: "replayed",
  conflict: "conflict",
  mismatch: "mismatch",
} as const satisfies Record<string, CallOutcome>;

/** The HTTP request a `finished` event is about. */
export interface FinishedHttp {
  /** As sent (`POST`). */
  method: string;
  /** The routed path, without its query (`/orders/42`); absent when the target is not a path. */
  path?: string;
  /** The route's template (`/orders/:id`), when the integration knows it (Express, Fastify). */
  route?: string;
  /** The status sent; absent when the route failed before answering, or the request ran fail-open. */
  status?: number;
}

export type StoreOperation = "claim" | "complete" | "release" | "extend" | "get";
export type IdempotencyEventType = IdempotencyEvent["type"];
/** A listener may be async: a rejection is ignored like a throw, never an unhandled rejection. */
export type IdempotencyEventListener = (event: IdempotencyEvent) => unknown;

/** A minimal typed event stream. A throwing listener never breaks a request. */
export class EventStream {
  readonly #listeners = new Set<IdempotencyEventListener>();

  /** Whether anyone listens: emitters skip building an event nobody receives. */
  get active(): boolean {
    return this.#listeners.size > 0;
  }

  on(listener: IdempotencyEventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  emit(event: IdempotencyEvent): void {
    for (const listener of this.#listeners) {
      try {
        const result: unknown = listener(event);
        // A thenable, not `instanceof Promise`: an app may replace the global Promise (bluebird,
        // zone.js), and an async listener's rejection would then go unhandled and end the process.
        if (isThenable(result)) result.then(undefined, ignore);
      } catch {
        // Observability must never change behaviour.
      }
    }
  }
}

function ignore(): void {}
