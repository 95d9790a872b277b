import type { OwnedRun, RunContext, RunResult } from "@idemkit/core";
import { atDeadline, deadlineOf, underDeadline } from "./deadline.js";
import type { PayloadVersion } from "./http-event.js";
import {
  finishHttp,
  idempotencyContext,
  type LambdaHttpOptions,
  lambdaHttpEntry,
  startHttp,
} from "./http-flow.js";
import { type EventIdempotencyOptions, eventRunner } from "./make-idempotent.js";
import type { HttpEvent, IdempotencyContext, LambdaContext } from "./types.js";

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
class Holds<T> {
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
function isMiddyTimeout(error: unknown): boolean {
  return (
    error instanceof Error &&
    error.name === "TimeoutError" &&
    (error.cause as { package?: unknown } | undefined)?.package === "@middy/core"
  );
}

function tell(context: unknown, idempotency: IdempotencyContext): void {
  if (context !== null && typeof context === "object") {
    (context as { idempotency?: IdempotencyContext }).idempotency = idempotency;
  }
}

/**
 * Middy middleware for API Gateway (REST and HTTP APIs) and function URL events: what
 * `makeHttpIdempotent` does, in `before` (claim; a replay or idemkit's own answer returns early),
 * `after` (store the response) and `onError` (release the key, or store the response an error
 * handler made). The handler finds its key in `context.idempotency`. Use it first, so that it stores
 * the response the other middlewares made and its replays are that response.
 */
export function httpIdempotency<E extends HttpEvent = HttpEvent, C extends LambdaContext = LambdaContext>(
  options: LambdaHttpOptions<E>,
): MiddyMiddleware<E, C> {
  const { entry, marginMs } = lambdaHttpEntry(options, "httpIdempotency");
  const runs = new Holds<{ run: OwnedRun; version: PayloadVersion }>();
  return {
    before: async (request) => {
      const start = await startHttp(entry, request.event, request.context);
      if (start.kind === "pass") return undefined;
      if (start.kind === "answer") return start.result;
      const { run, version, deadline } = start;
      runs.hold(request, { run, version }, deadline, marginMs, (held) => held.run.abandon());
      tell(request.context, idempotencyContext(run));
      return undefined;
    },
    after: async (request) => {
      const held = runs.take(request);
      if (held) request.response = await finishHttp(entry, held.run, held.version, request.response);
    },
    onError: async (request) => {
      // Left held: the deadline ends the hold (`atDeadline`), when the store's lease has ended too.
      if (isMiddyTimeout(request.error)) return;
      const held = runs.take(request);
      if (held === undefined) return;
      // An error handler before this one answered: that answer is the response, stored as any.
      if (request.response !== undefined) {
        request.response = await finishHttp(entry, held.run, held.version, request.response);
      } else await held.run.fail(request.error);
    },
  };
}

/** The handler's outcome, handed from `after` or `onError` to the `run()` that `before` started. */
interface PendingRun {
  settle: { resolve(value: unknown): void; reject(error: unknown): void };
  execution: Promise<RunResult<unknown>>;
}

/**
 * Middy middleware for any event (an SQS record, EventBridge, a direct invocation): what
 * `makeIdempotent` does. `before` claims the key `options.key` takes from the event (a stored result
 * returns early; `ConflictError`, `MismatchError`, `StoreUnavailableError` are thrown), `after` stores
 * the response, `onError` releases the key.
 */
export function idempotency<E = unknown, C extends LambdaContext = LambdaContext>(
  options: EventIdempotencyOptions<E, C>,
): MiddyMiddleware<E, C> {
  const { idem, marginMs, runOptions } = eventRunner(options, "idempotency");
  const pending = new Holds<PendingRun>();
  return {
    before: async (request) => {
      const deadline = deadlineOf(request.context);
      const run = runOptions(request.event, request.context);
      let settle!: PendingRun["settle"];
      const outcome = new Promise((resolve, reject) => {
        settle = { resolve, reject };
      });
      let owning!: (owner: RunContext) => void;
      const owned = new Promise<RunContext>((resolve) => {
        owning = resolve;
      });
      // run() calls the work once it owns the key; its outcome is the handler's, given by after/onError.
      const execution = underDeadline(deadline, () =>
        idem.execute(run, (owner) => {
          owning(owner);
          return outcome;
        }),
      );
      const first = await Promise.race([
        owned.then((owner) => ({ owner })),
        execution.then((result) => ({ result })),
      ]);
      if ("result" in first) {
        // A replay, returned early: `earlyResponse` says so even for a stored `undefined`.
        request.earlyResponse = first.result.value;
        return first.result.value;
      }
      pending.hold(request, { settle, execution }, deadline, marginMs, (held) => {
        held.settle.reject(new Error("the invocation ended without the handler's outcome"));
        held.execution.catch(() => {});
      });
      const { owner } = first;
      tell(request.context, {
        key: run.key,
        fence: owner.fence,
        get signal() {
          return owner.signal;
        },
      });
      return undefined;
    },
    after: async (request) => {
      const held = pending.take(request);
      if (held === undefined) return;
      held.settle.resolve(request.response);
      request.response = (await held.execution).value;
    },
    onError: async (request) => {
      if (isMiddyTimeout(request.error)) return; // as in httpIdempotency
      const held = pending.take(request);
      if (held === undefined) return;
      held.settle.reject(request.error);
      await held.execution.catch(() => {}); // released; the error goes on as it is
    },
  };
}
