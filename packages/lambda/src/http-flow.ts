import {
  type HttpAnswer,
  type HttpEntry,
  type HttpOptions,
  type OwnedRun,
  splitOptions,
} from "@idemkit/core";
import { deadlineOf, underDeadline } from "./deadline.js";
import { httpRequestOf, type PayloadVersion, routeOf } from "./http-event.js";
import { headerPairs, lambdaResult, routeResponseOf } from "./http-result.js";
import { type LambdaInstanceOptions, lambdaInstance } from "./instance.js";
import type { HttpEvent, IdempotencyContext, LambdaContext, LambdaHttpResult } from "./types.js";

/**
 * The options of an idempotent HTTP handler or middleware: the store and instance options, core's HTTP
 * options (`scope` and `fingerprint` get the event), and `deadlineMarginMs`.
 */
export type LambdaHttpOptions<E = HttpEvent> = LambdaInstanceOptions & HttpOptions<E>;

/** Core's HTTP semantics for one handler or middleware, with its deadline margin. */
export interface LambdaHttpEntry<E> {
  entry: HttpEntry<E>;
  marginMs: number;
}

export function lambdaHttpEntry<E>(options: LambdaHttpOptions<E>, where: string): LambdaHttpEntry<E> {
  if (options === null || typeof options !== "object") {
    throw new TypeError(`${where} needs an options object with a store and a scope`);
  }
  const { instance, http } = splitOptions<HttpOptions<E>>(options);
  const { idem, marginMs } = lambdaInstance(instance, where);
  return { entry: idem.exchange(http, where, { route: routeOf }), marginMs };
}

/** How an HTTP invocation begins: untouched, answered by idemkit, or run as the key's owner. */
export type HttpStart =
  | { kind: "pass" }
  | { kind: "answer"; result: LambdaHttpResult }
  | { kind: "run"; run: OwnedRun; version: PayloadVersion; deadline: number };

const PASS = { kind: "pass" } as const;

/**
 * Claims the event's key, its lease bounded by the invocation's deadline. Events of other kinds and
 * uncovered methods pass untouched (and need no context); a replay, 400, 409, 413, 422 or 503 comes
 * back as the proxy result to return.
 */
export async function startHttp<E>(
  entry: HttpEntry<E>,
  event: E,
  context: LambdaContext | undefined,
): Promise<HttpStart> {
  const request = httpRequestOf(event);
  if (request === undefined || !entry.covers(request.exchange.method)) return PASS;
  const deadline = deadlineOf(context);
  const begun = await underDeadline(deadline, () => entry.begin(request.exchange));
  if (begun.kind === "pass") return PASS;
  if (begun.kind === "answer") return { kind: "answer", result: answerResult(request.version, begun.answer) };
  return { kind: "run", run: begun, version: request.version, deadline };
}

/**
 * Stores the handler's proxy result (or releases the key, for a status that is not stored) and says
 * what to return: the result as every replay of it will be, or the answer core gives instead (the
 * new owner's, when this one's key was taken over). A result API Gateway could not send is answered
 * 500 and its key released, as core does for a response no server could send.
 */
export async function finishHttp<E>(
  entry: HttpEntry<E>,
  run: OwnedRun,
  version: PayloadVersion,
  result: unknown,
): Promise<LambdaHttpResult> {
  const response = routeResponseOf(result, version);
  if (typeof response === "string") {
    await run.fail(new TypeError(`The handler's result is not a proxy result: ${response}`));
    return answerResult(version, entry.invalidAnswer(response));
  }
  const instead = await run.finish(response);
  if (instead) return answerResult(version, instead);
  // After `finish`: it took `Idempotent-Replayed` out of the handler's headers.
  return lambdaResult(version, response.status, headerPairs(response.headers), response.body);
}

export function answerResult(version: PayloadVersion, answer: HttpAnswer): LambdaHttpResult {
  return lambdaResult(version, answer.status, answer.headers, answer.body);
}

/** The handler's view of its run (the key and fence are set: the run owns a key). */
export function idempotencyContext(run: OwnedRun): IdempotencyContext {
  return run.context as IdempotencyContext;
}
