import type { FinishedEvent } from "@idemkit/core";
import { SpanKind, SpanStatusCode, type Tracer } from "@opentelemetry/api";
import { callSpanAttributes, conventionalMethod, errorType } from "./attributes.js";

/**
 * The span of one idempotent call, made when the call ends (its `finished` event) with the call's
 * real start time. It is a child of the span active where the call ran (the HTTP server span, say);
 * spans the handler opens are its siblings, since an event listener cannot wrap the handler.
 */
export function recordCallSpan(tracer: Tracer, event: FinishedEvent, recordKeys: boolean): void {
  const span = tracer.startSpan(spanName(event), {
    kind: SpanKind.INTERNAL,
    startTime: event.at - event.durationMs,
    attributes: callSpanAttributes(event, recordKeys),
  });
  if (errorType(event) !== undefined) {
    if (event.error instanceof Error) span.recordException(event.error, event.at);
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end(event.at);
}

/** `idemkit POST /orders/:id` (the route's template, never the path: names stay few), `idemkit run charge-card`. */
export function spanName(event: FinishedEvent): string {
  if (event.http) {
    const { route } = event.http;
    // The conventions name a span of an unknown method `HTTP`, never by what a client sent.
    const method = conventionalMethod(event.http.method);
    const shown = method === "_OTHER" ? "HTTP" : method;
    return route === undefined ? `idemkit ${shown}` : `idemkit ${shown} ${route}`;
  }
  return event.name === undefined ? "idemkit run" : `idemkit run ${event.name}`;
}
