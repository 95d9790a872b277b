import {
  finishHttp,
  idempotencyContext,
  type LambdaHttpOptions,
  lambdaHttpEntry,
  startHttp,
} from "./http-flow.js";
import type { HttpEvent, IdempotencyContext, LambdaContext, LambdaHttpResult } from "./types.js";

/** A Lambda HTTP handler made idempotent: the third argument says which key it runs for. */
export type IdempotentHttpHandler<E, C, R> = (
  event: E,
  context: C,
  idempotency: IdempotencyContext | undefined,
) => R | Promise<R>;

/**
 * An idempotent handler for API Gateway REST APIs (payload 1.0), HTTP APIs (payload 2.0) and Lambda
 * function URLs: the key is the request's `Idempotency-Key` header, and every answer is core's (a
 * replay with `Idempotent-Replayed: true`, 400, 409, 413, 422, 503), as a proxy result. The handler runs
 * at most once per key while its lease lasts; the lease ends no later than the invocation's deadline
 * plus `deadlineMarginMs`. Events of other kinds and uncovered methods (GET…) reach the handler untouched,
 * with `idempotency` undefined. `scope` is required.
 */
export function makeHttpIdempotent<E extends HttpEvent, C extends LambdaContext, R>(
  handler: IdempotentHttpHandler<E, C, R>,
  options: LambdaHttpOptions<E>,
): (event: E, context: C) => Promise<R | LambdaHttpResult> {
  if (typeof handler !== "function") throw new TypeError("makeHttpIdempotent needs a handler function");
  const { entry } = lambdaHttpEntry(options, "makeHttpIdempotent");
  return async (event, context) => {
    const start = await startHttp(entry, event, context);
    if (start.kind === "pass") return handler(event, context, undefined);
    if (start.kind === "answer") return start.result;
    const { run, version } = start;
    let result: R;
    try {
      result = await handler(event, context, idempotencyContext(run));
    } catch (error) {
      await run.fail(error); // the key is released: a retry runs the handler again
      throw error;
    }
    return finishHttp(entry, run, version, result);
  };
}
