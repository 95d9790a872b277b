import type { OwnedRun } from "@idemkit/core";
import type { PayloadVersion } from "./http-event.js";
import {
  finishHttp,
  idempotencyContext,
  type LambdaHttpOptions,
  lambdaHttpEntry,
  startHttp,
} from "./http-flow.js";
import { Holds, isMiddyTimeout, type MiddyMiddleware, tell } from "./middy.js";
import type { HttpEvent, LambdaContext } from "./types.js";

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
