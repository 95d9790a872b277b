import type { IncomingMessage, ServerResponse } from "node:http";
import type {
  ExchangeBody,
  HandlerContext,
  HttpAnswer,
  HttpEntry,
  HttpExchange,
  OwnedRun,
  ResponseHeaders,
} from "@idemkit/core";
import { ResponseCapture } from "./capture.js";
import { headersOf } from "./lookups.js";
import { sendableAsItStands, writeAnswer, writeRouteResponse } from "./write-response.js";

/** What an integration plugs into the Node flow. */
export interface ServeHooks<R> {
  /** The integration's request, for `scope` and `fingerprint`. */
  request: R;
  /** The body for core; may throw (a body another handler took). */
  body(): ExchangeBody;
  /**
   * Runs the route: with the key's context when this process owns the key, `undefined` when the
   * request passes through. May throw or reject: that is the route failing.
   */
  route(context: HandlerContext | undefined): unknown;
  /** An error idemkit cannot answer itself (a throwing `scope`, the route's own failure). */
  error(error: unknown): void;
  /**
   * Headers the response already has for this request, set before idemkit (default
   * `res.getHeaders()`): a framework that keeps its own until it sends (Fastify's reply) tells them here.
   */
  inherited?(): ResponseHeaders;
  /**
   * An answer idemkit made instead of running the route (a replay, a problem); `send()` writes it to
   * `res`. Default: sent at once. NestJS hands problems to its exception filters first.
   */
  answer?(answer: HttpAnswer, send: () => void): void;
}

/**
 * Core's HTTP semantics on node:http, for a request whose method is covered: the claim, then the
 * answer idemkit makes (a replay, a problem) or the route under a capture, its outcome stored
 * before the client sees it. Never throws and never rejects: every failure ends in `hooks.error`
 * or in an answer.
 */
export async function serve<R>(
  entry: HttpEntry<R>,
  req: IncomingMessage,
  res: ServerResponse,
  hooks: ServeHooks<R>,
): Promise<void> {
  // Headers set before idemkit (CORS, security headers) belong to this request, not to the outcome.
  const inherited = hooks.inherited?.() ?? (headersOf(res) as ResponseHeaders);
  let watched: WatchedBody | undefined;
  let begun: Awaited<ReturnType<HttpEntry<R>["begin"]>>;
  try {
    watched = watchBody(req, hooks.body());
    begun = await entry.begin(nodeExchange(req, watched.body, hooks.request));
  } catch (error) {
    return hooks.error(error);
  }
  if (begun.kind === "pass") return runRoute(hooks, undefined);
  // A body left partly unread (over the cap) ends the connection with the answer.
  if (begun.kind === "answer") {
    const { answer } = begun;
    const send = () => writeAnswer(res, answer, { inherited, closeConnection: watched.stoppedEarly() });
    if (!hooks.answer) return send();
    return guard(() => hooks.answer!(answer, send), hooks.error);
  }
  return serveOwned(begun, res, hooks, inherited);
}

async function serveOwned<R>(
  run: OwnedRun,
  res: ServerResponse,
  hooks: ServeHooks<R>,
  inherited: ResponseHeaders,
): Promise<void> {
  const capture = new ResponseCapture(res, {
    maxBytes: run.maxResponseBytes,
    streams: (head) => run.streams(head),
    graceMs: run.leaseMs,
  });
  // A route that fails before its response settled ends the capture; one that fails later is reported.
  let settled = false;
  let routeError: { error: unknown } | undefined;
  runRoute(hooks, run.context, (error) => {
    if (settled) return hooks.error(error);
    routeError = { error };
    capture.fail();
  });
  const captured = await capture.result;
  const answer = { inherited, afterCapture: true };
  try {
    switch (captured.kind) {
      case "whole": {
        // Read before `finish`, which drops a replay marker from the snapshot's headers.
        const asItStands = sendableAsItStands(captured.response.headers);
        const { status, statusText, headers, body } = captured.response;
        const instead = await run.finish({ status, statusText, headers, body, inherited });
        capture.restore();
        const touched = capture.touchedSinceSnapshot || !asItStands;
        if (instead) writeAnswer(res, instead, answer);
        else writeRouteResponse(res, captured.response, captured.sent, touched);
        break;
      }
      case "flowing": {
        const instead = await run.finishUnreplayable({ ...captured.head, inherited }, captured.reason);
        if (instead) {
          capture.restore();
          writeAnswer(res, instead, answer);
        } else capture.flow();
        break;
      }
      case "cut":
        // The route may have done its work: the key is never freed for a re-run.
        await run.finishUnreplayable({ ...captured.head, inherited }, "incomplete");
        capture.restore();
        res.destroy();
        break;
      case "failed":
        capture.restore();
        await run.fail(routeError?.error);
        break;
    }
  } catch (error) {
    capture.restore();
    routeError ??= { error };
  }
  settled = true;
  if (routeError) hooks.error(routeError.error);
}

/** Runs the route; a throw or a rejection goes to `failed` (default: `hooks.error`). */
function runRoute<R>(
  hooks: ServeHooks<R>,
  context: HandlerContext | undefined,
  failed: (error: unknown) => void = (error) => hooks.error(error),
): void {
  guard(() => hooks.route(context), failed);
}

/** Calls `fn`; a throw, or a rejection of what it returns, goes to `failed`. */
export function guard(fn: () => unknown, failed: (error: unknown) => void): void {
  try {
    const result = fn();
    if (
      result !== null &&
      typeof result === "object" &&
      typeof (result as Promise<unknown>).then === "function"
    ) {
      (result as Promise<unknown>).then(undefined, failed);
    }
  } catch (error) {
    failed(error);
  }
}

export interface WatchedBody {
  body: ExchangeBody;
  /** Whether reading stopped at the cap with the rest of the body still unread. */
  stoppedEarly(): boolean;
}

/** `body`, telling afterwards whether it was left partly unread (the answer must then close the connection). */
export function watchBody(req: IncomingMessage, body: ExchangeBody): WatchedBody {
  let stopped = false;
  if (body.kind !== "stream") return { body, stoppedEarly: () => false };
  const { read } = body;
  const watched: ExchangeBody = {
    kind: "stream",
    read: async (limit) => {
      const bytes = await read(limit);
      stopped = bytes === undefined && !req.complete;
      return bytes;
    },
  };
  return { body: watched, stoppedEarly: () => stopped };
}

/** The neutral exchange of a node:http request: nothing is converted, the body read only if asked. */
export function nodeExchange<R>(req: IncomingMessage, body: ExchangeBody, request: R): HttpExchange<R> {
  return {
    method: req.method ?? "",
    // The path the server routes: Express and Connect strip a mount path from `req.url`.
    target: (req as { originalUrl?: string }).originalUrl ?? req.url ?? "",
    header: (name) => {
      const value = req.headers[name];
      return Array.isArray(value) ? value.join(", ") : value;
    },
    body,
    request,
  };
}
