import type { FinishedEvent } from "@idemkit/core";
import type { Attributes } from "@opentelemetry/api";

/**
 * The attribute names, in one place: OpenTelemetry's semantic conventions where one fits, idemkit's
 * own (`idemkit.*`) for the rest.
 */
export const ATTR = {
  httpMethod: "http.request.method",
  httpMethodOriginal: "http.request.method_original",
  httpRoute: "http.route",
  httpStatus: "http.response.status_code",
  urlPath: "url.path",
  errorType: "error.type",
  outcome: "idemkit.outcome",
  fence: "idemkit.fence",
  key: "idemkit.key",
  runName: "idemkit.run.name",
  reason: "idemkit.reason",
  storeOperation: "idemkit.store.operation",
  leasePhase: "idemkit.lease.phase",
} as const;

/** The methods OpenTelemetry's HTTP conventions name; any other is recorded as `_OTHER`. */
const KNOWN_METHODS = new Set([
  "CONNECT",
  "DELETE",
  "GET",
  "HEAD",
  "OPTIONS",
  "PATCH",
  "POST",
  "PUT",
  "TRACE",
]);

/** `http.request.method` as the conventions have it: a known method as is, anything else `_OTHER`. */
export function conventionalMethod(method: string): string {
  return KNOWN_METHODS.has(method) ? method : "_OTHER";
}

/**
 * What a call's metrics carry: values from small, fixed sets only (never a path, a fence or a key,
 * each of which would make a time series per request).
 */
export function callMetricAttributes(event: FinishedEvent): Attributes {
  const attributes: Attributes = { [ATTR.outcome]: event.outcome };
  const { http } = event;
  if (http) {
    attributes[ATTR.httpMethod] = conventionalMethod(http.method);
    if (http.route !== undefined) attributes[ATTR.httpRoute] = http.route;
    if (http.status !== undefined) attributes[ATTR.httpStatus] = http.status;
  }
  if (event.name !== undefined) attributes[ATTR.runName] = event.name;
  const error = errorType(event);
  if (error !== undefined) attributes[ATTR.errorType] = error;
  return attributes;
}

/** What a call's span carries: its metric attributes, plus the path, the fence, why it was rejected, and the key if asked. */
export function callSpanAttributes(event: FinishedEvent, recordKeys: boolean): Attributes {
  const attributes = callMetricAttributes(event);
  if (event.http?.path !== undefined) attributes[ATTR.urlPath] = event.http.path;
  // A method outside the conventions' list is `_OTHER` above (a bounded set); the span keeps what it was.
  if (event.http !== undefined && attributes[ATTR.httpMethod] === "_OTHER")
    attributes[ATTR.httpMethodOriginal] = event.http.method;
  if (event.fence !== undefined) attributes[ATTR.fence] = event.fence;
  if (event.reason !== undefined) attributes[ATTR.reason] = event.reason;
  if (recordKeys && event.key !== undefined) attributes[ATTR.key] = event.key;
  return attributes;
}

/**
 * `error.type` of a call that ended in an error: the error's name when the work threw or the store
 * failed, the status for a 5xx answer (as OpenTelemetry's HTTP conventions have it); none otherwise.
 */
export function errorType(event: FinishedEvent): string | undefined {
  if (event.outcome === "failed" || event.outcome === "unavailable") return errorName(event.error);
  const status = event.http?.status;
  return status !== undefined && status >= 500 ? String(status) : undefined;
}

/** An error's name (`TypeError`, `StoreUnavailableError`), or `_OTHER` when it has none. */
export function errorName(error: unknown): string {
  const name = (error as { name?: unknown } | null | undefined)?.name;
  return typeof name === "string" && name !== "" ? name : "_OTHER";
}
