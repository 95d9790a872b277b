import type { RunContext, RunResult } from "@idemkit/core";
import { workContext } from "@idemkit/core";
import { deadlineOf, underDeadline } from "./deadline.js";
import { type EventIdempotencyOptions, eventRunner } from "./make-idempotent.js";
import { Holds, isMiddyTimeout, type MiddyMiddleware, tell } from "./middy.js";
import type { LambdaContext } from "./types.js";

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
      tell(request.context, workContext({ key: run.key, fence: owner.fence }, owner));
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
