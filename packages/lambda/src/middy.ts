// What both Middy middlewares share: Middy's shapes, the hold between before and after, its timeout.
import { atDeadline } from "./deadline.js";
import type { IdempotencyContext, LambdaContext } from "./types.js";

/** The part of a Middy request idemkit uses; Middy 6 and 7's requests fit it. */
export interface MiddyRequest<E, C> {
  event: E;
  context: C;
  response: unknown;
  error: unknown;
  /** Set by a `before` to answer early, even with `undefined` (Middy 6 and later). */
  earlyResponse?: unknown;
}

/** A Middy middleware object, for `middy(handler).use(…)`. */
export interface MiddyMiddleware<E, C> {
  before: (request: MiddyRequest<E, C>) => Promise<unknown>;
  after: (request: MiddyRequest<E, C>) => Promise<void>;
  onError: (request: MiddyRequest<E, C>) => Promise<void>;
}

/** The Lambda context as a handler behind idemkit's Middy middleware sees it. */
export type IdempotentLambdaContext<C = LambdaContext> = C & { idempotency?: IdempotencyContext };

/**
 * What a middleware holds between `before` and `after`/`onError`, per request. `cancel` stops the
 * deadline timer (`atDeadline`) that ends the hold if neither comes (a later middleware answered early).
 */
export class Holds<T> {
  readonly #held = new WeakMap<object, { value: T; cancel: () => void }>();

  hold(request: object, value: T, deadline: number, marginMs: number, end: (value: T) => void): void {
    const cancel = atDeadline(deadline, marginMs, () => {
      if (this.#held.delete(request)) end(value);
    });
    this.#held.set(request, { value, cancel });
  }

  take(request: object): T | undefined {
    const held = this.#held.get(request);
    if (held === undefined) return undefined;
    this.#held.delete(request);
    held.cancel();
    return held.value;
  }
}

/**
 * Middy's own timeout error (thrown `timeoutEarlyInMillis` before the deadline): the handler may still
 * be running, so its key is neither stored nor released; its lease ends at the deadline plus the margin.
 */
export function isMiddyTimeout(error: unknown): boolean {
  return (
    error instanceof Error &&
    error.name === "TimeoutError" &&
    (error.cause as { package?: unknown } | undefined)?.package === "@middy/core"
  );
}

/** Puts the run's key, fence and signal where a Middy handler finds them: `context.idempotency`. */
export function tell(context: unknown, idempotency: IdempotencyContext): void {
  if (context !== null && typeof context === "object") {
    (context as { idempotency?: IdempotencyContext }).idempotency = idempotency;
  }
}
