import { internalError, nodeBody, serve } from "@idemkit/node";
import {
  type CallHandler,
  type ExecutionContext,
  Inject,
  Injectable,
  Logger,
  type NestInterceptor,
} from "@nestjs/common";
import { HttpAdapterHost } from "@nestjs/core";
import { Observable, type Subscription } from "rxjs";
import { expectProblemReply, hookAdapter, markAnswered } from "./adapter-hook.js";
import { setIdempotencyContext } from "./context.js";
import { WHERE } from "./options.js";
import { nodeObjects, replyHeaders, takeOver } from "./platform.js";
import { IdempotencyProblemException, problemOf } from "./problem-exception.js";
import { IdempotencyRoutes } from "./routes.js";

const logger = new Logger("IdempotencyInterceptor");
/** Requests an interceptor already handles (`@Idempotent()` on a controller and on its route). */
const handled = new WeakSet<object>();

/**
 * Runs an `@Idempotent()` route through `@idemkit/node`: the claim after guards, before pipes and the
 * handler; then a replay or a problem, or the route under a capture of node's response, so what is
 * stored is what the client gets (status, headers, body as sent, after every interceptor, serializer
 * and filter), and only stored before it goes out. A handler that throws releases the key and its
 * exception goes on to Nest's filters, as always.
 */
@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  constructor(
    @Inject(IdempotencyRoutes) private readonly routes: IdempotencyRoutes,
    @Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== "http") return next.handle();
    const handler = context.getHandler();
    const controller = context.getClass();
    const entry = this.routes.forRoute(
      handler,
      controller,
      () => this.routes.optionsOf(handler, controller) ?? {},
    );
    if (!entry) return next.handle();
    const http = context.switchToHttp();
    const request = http.getRequest<object>();
    const response = http.getResponse<unknown>();
    const node = nodeObjects(request, response);
    if (!node) throw new TypeError(`${WHERE} runs on node:http servers (Express or Fastify, HTTP/1.1)`);
    if (!entry.covers(node.req.method ?? "") || handled.has(node.req)) return next.handle();
    handled.add(node.req);
    hookAdapter(this.adapterHost.httpAdapter);

    return new Observable((subscriber) => {
      let inner: Subscription | undefined;
      /** Where the route stands: an error before it ran, or its own, is Nest's filters' to answer. */
      let route: "waiting" | "running" | "failed" = "waiting";
      void serve(entry, node.req, node.res, {
        request,
        body: () => nodeBody(node.req, () => (request as { body?: unknown }).body),
        inherited: replyHeaders(response),
        route: (owned) => {
          // Given up while idemkit waited (an outer interceptor's timeout answered): never run it now.
          if (subscriber.closed) return Promise.reject(new Error(`${WHERE}: the request was given up`));
          if (owned) setIdempotencyContext(request, owned);
          route = "running";
          return new Promise<void>((resolve, reject) => {
            inner = next.handle().subscribe({
              next: (value) => subscriber.next(value),
              error: (error) => {
                route = "failed";
                reject(error);
              },
              complete: () => {
                subscriber.complete();
                resolve();
              },
            });
          });
        },
        error: (error) => {
          if (route !== "running") return subscriber.error(error);
          // idemkit failed after the route answered (an option that threw while it was stored): the
          // route succeeded as far as Nest knows, so a bare 500, as node:http would send.
          logger.error(error);
          takeOver(response);
          markAnswered(node.res);
          internalError(node.res);
        },
        answer: (answer, send) => {
          if (subscriber.closed) return; // given up: Nest answered already
          const problem = problemOf(answer);
          if (problem) {
            const exception = new IdempotencyProblemException(problem, answer);
            expectProblemReply(exception.getResponse() as object, answer.status, send);
            return subscriber.error(exception);
          }
          // A replay goes out as stored, past every interceptor and serializer (they shaped it once).
          takeOver(response);
          send();
          markAnswered(node.res);
          subscriber.next(undefined);
          subscriber.complete();
        },
      });
      return () => inner?.unsubscribe();
    });
  }
}
