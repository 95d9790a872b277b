import type { ExchangeBody, HttpExchange } from "@idemkit/core";

/** The payload format of an HTTP event: 1.0 (REST APIs) or 2.0 (HTTP APIs, function URLs). */
export type PayloadVersion = "1.0" | "2.0";

/** An HTTP event as core's HTTP semantics read it, and the format its answer must take. */
export interface HttpRequest<E> {
  version: PayloadVersion;
  exchange: HttpExchange<E>;
}

const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();

/**
 * The neutral exchange of an API Gateway or function URL event, or `undefined` for an event of another
 * kind (a warm-up ping, a WebSocket or queue event), which idemkit leaves alone. The event's format is
 * told by its shape, not its `version`, so a hand-made test event is read the same way.
 */
export function httpRequestOf<E>(event: E): HttpRequest<E> | undefined {
  if (event === null || typeof event !== "object") return undefined;
  const fields = event as Record<string, unknown>;
  const http = (fields.requestContext as { http?: { method?: unknown } } | null | undefined)?.http;
  if (typeof http?.method === "string" && typeof fields.rawPath === "string") {
    const query = typeof fields.rawQueryString === "string" ? fields.rawQueryString : "";
    return {
      version: "2.0",
      exchange: exchange(
        event,
        http.method,
        query ? `${fields.rawPath}?${query}` : fields.rawPath,
        v2Headers,
      ),
    };
  }
  if (typeof fields.httpMethod === "string" && typeof fields.path === "string") {
    return {
      version: "1.0",
      exchange: exchange(event, fields.httpMethod, fields.path + v1Query(fields), v1Headers),
    };
  }
  return undefined;
}

/**
 * The route's template, for events and traces: a REST API's `resource` (`/orders/{id}`), an HTTP API's
 * `routeKey` without its method (`POST /orders/{id}`); none for `$default` (function URLs, catch-alls).
 */
export function routeOf(event: unknown): string | undefined {
  const fields = event as { resource?: unknown; routeKey?: unknown } | null | undefined;
  if (typeof fields?.resource === "string") return fields.resource;
  if (typeof fields?.routeKey !== "string") return undefined;
  const template = fields.routeKey.slice(fields.routeKey.indexOf(" ") + 1);
  return template.startsWith("/") ? template : undefined;
}

function exchange<E>(
  event: E,
  method: string,
  target: string,
  headersOf: (fields: Record<string, unknown>) => Map<string, string>,
): HttpExchange<E> {
  const fields = event as Record<string, unknown>;
  let headers: Map<string, string> | undefined;
  return {
    method: method.toUpperCase(),
    target,
    header: (name) => {
      headers ??= headersOf(fields);
      return headers.get(name);
    },
    body: bodyOf(fields.body, fields.isBase64Encoded === true),
    request: event,
  };
}

/**
 * The body for the fingerprint: bytes, decoded only when core asks (a covered request with a valid key);
 * or, when a body parser ran first (Middy's `http-json-body-parser` puts an object in `event.body`),
 * the parsed value, fingerprinted canonically.
 */
function bodyOf(body: unknown, base64: boolean): ExchangeBody {
  if (body !== null && typeof body === "object") return { kind: "parsed", value: body };
  return {
    kind: "stream",
    read: async (limit) => {
      const bytes = bodyBytes(body, base64);
      return bytes.length > limit ? undefined : bytes;
    },
  };
}

/** The body's bytes: base64-decoded when API Gateway encoded it (binary media types, function URLs). */
export function bodyBytes(body: unknown, base64: boolean): Uint8Array {
  if (typeof body !== "string" || body === "") return EMPTY;
  return base64 ? Buffer.from(body, "base64") : encoder.encode(body);
}

/** Header names lower-cased, repeated names' values comma-joined, as core's exchange reads them. */
class HeaderList {
  readonly #values = new Map<string, string[]>();

  add(name: string, value: unknown): void {
    if (typeof value !== "string") return;
    const lower = name.toLowerCase();
    const values = this.#values.get(lower);
    if (values) values.push(value);
    else this.#values.set(lower, [value]);
  }

  joined(): Map<string, string> {
    const joined = new Map<string, string>();
    for (const [name, values] of this.#values) joined.set(name, values.join(", "));
    return joined;
  }
}

/**
 * Payload 1.0: `multiValueHeaders` has every value of every header as sent; `headers` repeats the last
 * of each, and is read only for names `multiValueHeaders` lacks (a hand-made event may have only it).
 */
function v1Headers(fields: Record<string, unknown>): Map<string, string> {
  const list = new HeaderList();
  const multi = objectOrUndefined(fields.multiValueHeaders);
  for (const name in multi) {
    const values = multi[name];
    if (Array.isArray(values)) for (const value of values) list.add(name, value);
  }
  const single = objectOrUndefined(fields.headers);
  for (const name in single) if (!multi || !Object.hasOwn(multi, name)) list.add(name, single[name]);
  return list.joined();
}

/** Payload 2.0: headers come lower-case and comma-joined; the `Cookie` header arrives as `cookies`. */
function v2Headers(fields: Record<string, unknown>): Map<string, string> {
  const list = new HeaderList();
  const headers = objectOrUndefined(fields.headers);
  for (const name in headers) list.add(name, headers[name]);
  const headerMap = list.joined();
  if (Array.isArray(fields.cookies)) {
    const cookies = fields.cookies.filter((c): c is string => typeof c === "string");
    if (cookies.length > 0) headerMap.set("cookie", cookies.join("; "));
  }
  return headerMap;
}

/**
 * Payload 1.0 carries the query decoded, as parameters: put back in the form `?a=1&a=2`, in the
 * event's order (`multiValueQueryStringParameters`, else `queryStringParameters`), for the fingerprint.
 */
function v1Query(fields: Record<string, unknown>): string {
  const pairs: string[] = [];
  const add = (name: string, value: unknown) => {
    if (typeof value === "string") pairs.push(`${encodeURIComponent(name)}=${encodeURIComponent(value)}`);
  };
  const multi = objectOrUndefined(fields.multiValueQueryStringParameters);
  const single = objectOrUndefined(fields.queryStringParameters);
  if (multi) {
    for (const name in multi) {
      const values = multi[name];
      if (Array.isArray(values)) for (const value of values) add(name, value);
    }
  } else for (const name in single) add(name, single[name]);
  return pairs.length > 0 ? `?${pairs.join("&")}` : "";
}

function objectOrUndefined(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === "object" ? (value as Record<string, unknown>) : undefined;
}
