import type { ProblemType } from "./http/problems.js";

/** Every event carries the stored key and a timestamp; each type adds what it knows. */
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
  | (EventBase & { type: "store-error"; operation: StoreOperation; durationMs: number; error: unknown })
  /** An HTTP request answered before any claim (400 or 413): no stored key yet. */
  | { type: "rejected"; key: undefined; at: number; reason: ProblemType; status: number };

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
        const result = listener(event);
        if (result instanceof Promise) result.then(undefined, ignore);
      } catch {
        // Observability must never change behaviour.
      }
    }
  }
}

function ignore(): void {}
