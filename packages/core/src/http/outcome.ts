import type { ResponseHeaders, RouteResponseHead, UnreplayableReason } from "./exchange.js";
import { hasNullBody, headerOf, isValidHeaderValue, REPLAYED_HEADER, replayableHeaders } from "./headers.js";
import type { HttpPolicy } from "./policy.js";
import { encodeStoredResponse } from "./stored-response.js";

/** What becomes of a route's response: not stored (the key is released), refused, or these bytes. */
export type Outcome =
  | { kind: "not-stored" }
  | { kind: "invalid"; why: string }
  | { kind: "store"; bytes: Uint8Array };

const EMPTY = new Uint8Array(0);

/**
 * The stored form of a route's response under `policy`. Also removes `Idempotent-Replayed` from
 * the route's headers: it belongs to replays only. Throws what a throwing option throws.
 */
export function outcomeOf(
  policy: HttpPolicy<unknown>,
  head: RouteResponseHead,
  body: Uint8Array,
  reason: UnreplayableReason | undefined,
): Outcome {
  delete head.headers[REPLAYED_HEADER];
  if (!policy.shouldStore(head.status)) return { kind: "not-stored" };
  // A body over the cap is not stored however it arrived (whole, in one write).
  if (reason === undefined && body.length > policy.maxResponseBytes) reason = "oversized";
  const headers = replayableHeaders(head.headers, policy.excluded, head.inherited);
  const invalid = typeof headers === "string" ? headers : invalidHead(head);
  if (invalid !== undefined) return { kind: "invalid", why: invalid };
  const bytes = encodeStoredResponse({
    status: head.status,
    statusText: head.statusText ?? "",
    headers: headers as [string, string][],
    body: reason !== undefined || hasNullBody(head.status) ? EMPTY : body,
    ...(reason !== undefined && { unreplayable: reason }),
    ...(reason === "oversized" && { oversized: { bytes: policy.maxResponseBytes } }),
  });
  return { kind: "store", bytes };
}

/** Whether a response with this head streams straight through (server-sent events, by default). */
export function streamsThrough(
  policy: HttpPolicy<unknown>,
  status: number,
  headers: ResponseHeaders,
): boolean {
  return policy.streaming({ status, header: (name) => headerOf(headers, name.toLowerCase()) });
}

function invalidHead(head: RouteResponseHead): string | undefined {
  if (!Number.isInteger(head.status) || head.status < 200 || head.status > 599) {
    return `status ${head.status} is not a final status from 200 to 599`;
  }
  if (head.statusText !== undefined && !isValidHeaderValue(head.statusText)) {
    return "its status text has a control character";
  }
  return undefined;
}
