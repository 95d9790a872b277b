import type { CallOutcome, FinishedHttp } from "../events.js";
import type { ExchangeHooks, HttpExchange } from "./exchange.js";
import type { ProblemType } from "./problems.js";
import { routedTarget } from "./target.js";

/** How a request ended, for its `finished` event. */
export interface RequestEnd {
  key: string | undefined;
  outcome: CallOutcome;
  status: number | undefined;
  fence?: number;
  reason?: ProblemType;
  error?: unknown;
}

/**
 * The request as its `finished` event tells it: method, path without its query (a query may carry
 * what a trace must not), the route's template if the integration knows it, the status sent.
 */
export function describeRequest<R>(
  exchange: HttpExchange<R>,
  status: number | undefined,
  route: ExchangeHooks<R>["route"],
): FinishedHttp {
  const http: FinishedHttp = { method: exchange.method };
  const target = routedTarget(exchange.target);
  if (target !== undefined) {
    const query = target.indexOf("?");
    http.path = query === -1 ? target : target.slice(0, query);
  }
  let template: string | undefined;
  try {
    template = route?.(exchange.request);
  } catch {
    // An integration's hook never breaks a request.
  }
  if (typeof template === "string" && template !== "") http.route = template;
  if (status !== undefined) http.status = status;
  return http;
}
