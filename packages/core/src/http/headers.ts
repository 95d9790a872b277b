import type { ResponseHeaders } from "./exchange.js";

/** Marks a replayed answer; only ever set by idemkit, on replays. */
export const REPLAYED_HEADER = "idempotent-replayed";

/** Statuses whose responses have no body (RFC 9110): nothing is stored or sent for them. */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);
export const hasNullBody = (status: number): boolean => NULL_BODY_STATUSES.has(status);

/**
 * Headers never stored or replayed: credentials and cookies (another client must never receive
 * them), hop-by-hop headers (they describe one connection), `Date` (stale on replay), the length
 * (it follows from the body) and the replay marker itself.
 */
export const DEFAULT_EXCLUDED_HEADERS = [
  "set-cookie",
  "authorization",
  "www-authenticate",
  "proxy-authenticate",
  "proxy-authorization",
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "date",
  "content-length",
  REPLAYED_HEADER,
];

// What node:http accepts and RFC 9110 allows: a token name; a value of visible characters, spaces
// and tabs (obs-text included), no control characters. Web `Headers` accept more (0x01–0x08, say).
const NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

export const isValidHeaderName = (name: string): boolean => NAME.test(name);
export const isValidHeaderValue = (value: string): boolean => !INVALID_VALUE.test(value);

/** The value of a header in `headers` by lower-case name, multiple values comma-joined. */
export function headerOf(headers: ResponseHeaders, name: string): string | undefined {
  const value = headers[name];
  if (value === undefined) return undefined;
  return typeof value === "object" ? value.join(", ") : String(value);
}

/**
 * The headers of `headers` that may be stored and replayed, as pairs, or a description of the
 * first one no server could send (the response is then refused, never stored). Headers the response
 * already had before the route ran (`inherited`, same value) belong to that request: not stored.
 */
export function replayableHeaders(
  headers: ResponseHeaders,
  excluded: ReadonlySet<string>,
  inherited?: ResponseHeaders,
): [string, string][] | string {
  const kept: [string, string][] = [];
  // Headers named in `Connection` are hop-by-hop as well (RFC 9110 §7.6.1).
  const connection = headerOf(headers, "connection");
  const perConnection = connection
    ? connection
        .toLowerCase()
        .split(",")
        .map((s) => s.trim())
    : undefined;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (!isValidHeaderName(name)) return `header name ${JSON.stringify(name)} is not a token`;
    const keep = !excluded.has(name) && !perConnection?.includes(name) && inherited?.[name] !== value;
    // A single value is checked as it is, not wrapped in an array (one per header of every response).
    if (typeof value !== "object") {
      const text = String(value);
      if (!isValidHeaderValue(text)) return controlCharacterIn(name);
      if (keep) kept.push([name, text]);
      continue;
    }
    for (const one of value) {
      const text = String(one);
      if (!isValidHeaderValue(text)) return controlCharacterIn(name);
      if (keep) kept.push([name, text]);
    }
  }
  return kept;
}

const controlCharacterIn = (name: string) => `header ${name} has a control character in its value`;
