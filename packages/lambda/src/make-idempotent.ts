import type { Codec, Idempotency, RunOptions } from "@idemkit/core";
import { workContext } from "@idemkit/core";
import { deadlineOf, underDeadline } from "./deadline.js";
import { type LambdaInstanceOptions, lambdaInstance } from "./instance.js";
import type { IdempotencyContext, LambdaContext } from "./types.js";

/** `makeIdempotent`'s options (and the Middy `idempotency` middleware's): the key comes from the event. */
export interface EventIdempotencyOptions<E, C = LambdaContext, R = unknown> extends LambdaInstanceOptions {
  /**
   * The idempotency key of the event: a message id, an order id, a hash of the fields that make it
   * unique. Retries of the same work must give the same key (an SQS redelivery keeps `messageId`; a
   * message sent twice gets two).
   */
  key: (event: E, context: C) => string;
  /**
   * What the work is applied to, fingerprinted canonically: a reused key with another input throws
   * `MismatchError` instead of replaying. Default: none (the key alone), since whole events carry
   * fields that change on every delivery (`ApproximateReceiveCount`).
   */
  input?: (event: E) => unknown;
  /** Names the work in events, traces and metrics (`charge-card`): a few fixed values. */
  name?: string;
  /** Scope the keys belong to (a tenant): keys of different scopes never meet. Default: one scope. */
  scope?: string;
  /** Wait for an in-flight first invocation and return its result, instead of throwing `ConflictError`. */
  waitForInFlight?: RunOptions<R>["waitForInFlight"];
  /** Encodes the result for replay. Default: JSON (as Lambda returns it), with `Uint8Array` kept as bytes. */
  codec?: Codec<R>;
}

/** The instance and the `run()` options of one event, for `makeIdempotent` and the Middy middleware. */
export interface EventRunner<E, C, R> {
  idem: Idempotency;
  marginMs: number;
  runOptions(event: E, context: C): RunOptions<R>;
}

export function eventRunner<E, C, R>(
  options: EventIdempotencyOptions<E, C, R>,
  where: string,
): EventRunner<E, C, R> {
  if (options === null || typeof options !== "object") {
    throw new TypeError(`${where} needs an options object with a store and a key function`);
  }
  const { key, input, scope, name, waitForInFlight, codec, ...instance } = options;
  if (typeof key !== "function") {
    throw new TypeError(`${where}: key must be a function of the event returning its idempotency key`);
  }
  if (input !== undefined && typeof input !== "function") {
    throw new TypeError(`${where}: input must be a function of the event`);
  }
  if (scope !== undefined && typeof scope !== "string")
    throw new TypeError(`${where}: scope must be a string`);
  const { idem, marginMs } = lambdaInstance(instance, where);
  return {
    idem,
    marginMs,
    runOptions: (event, context) => ({
      key: key(event, context),
      ...(input && { input: input(event) }),
      ...(scope !== undefined && { scope }),
      ...(name !== undefined && { name }),
      ...(waitForInFlight !== undefined && { waitForInFlight }),
      ...(codec && { codec }),
    }),
  };
}

/** A Lambda handler of any event made idempotent: the third argument says which key it runs for. */
export type IdempotentEventHandler<E, C, R> = (
  event: E,
  context: C,
  idempotency: IdempotencyContext,
) => R | Promise<R>;

/**
 * Runs `handler` at most once per key (taken from the event by `options.key`) while its lease lasts,
 * stores its result (JSON) and returns the stored result to every retry: an SQS record, an EventBridge
 * event, a direct invocation. A retry while the first runs throws `ConflictError` (so the platform
 * retries later), a reused key with another `input` `MismatchError`, an unreachable store
 * `StoreUnavailableError` (the handler did not run). A handler that throws releases its key. The lease
 * ends no later than the invocation's deadline plus `deadlineMarginMs`.
 */
export function makeIdempotent<E, C extends LambdaContext, R>(
  handler: IdempotentEventHandler<E, C, R>,
  options: EventIdempotencyOptions<E, C, R>,
): (event: E, context: C) => Promise<R> {
  if (typeof handler !== "function") throw new TypeError("makeIdempotent needs a handler function");
  const { idem, runOptions } = eventRunner(options, "makeIdempotent");
  return async (event, context) => {
    const deadline = deadlineOf(context);
    const run = runOptions(event, context);
    return underDeadline(deadline, () =>
      idem.run(run, (owner) =>
        handler(event, context, workContext({ key: run.key, fence: owner.fence }, owner)),
      ),
    );
  };
}
