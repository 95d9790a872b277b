/**
 * The neutral exchange between core's HTTP semantics and a server integration: a request as the
 * server holds it (no URL, no Web objects) in, and plain status, headers and bytes out. The Node
 * bridge, Express and Fastify speak it directly; the Web `wrap()` is one more adapter on top.
 */

/** What an integration tells core about its requests beyond the exchange, read only for events. */
export interface ExchangeHooks<R> {
  /** The route's template (`/orders/:id`), when the framework has matched one by the time it answers. */
  route?(request: R): string | undefined;
}

/** A request as a server sees it before any framework object is built. */
export interface HttpExchange<R = unknown> {
  /** The method as sent (`POST`). */
  method: string;
  /** The request target as the server routes it: path and query (`/orders?x=1`), or absolute-form. */
  target: string;
  /** A header's value by lower-case name; a field sent more than once arrives comma-joined. */
  header(name: string): string | undefined;
  /** The body, read only when the request is covered and carries a valid key. */
  body: ExchangeBody;
  /** The framework's own request object, handed to the `scope` and `fingerprint` options. */
  request: R;
}

/**
 * A body as the integration holds it: bytes already read, a value a body parser made (fingerprinted
 * canonically whatever its content type), or a reader that stops at `limit` bytes.
 */
export type ExchangeBody =
  | { kind: "bytes"; bytes: Uint8Array }
  | { kind: "parsed"; value: unknown }
  | {
      kind: "stream";
      /** The whole body, or `undefined` as soon as it is known to be longer than `limit`. */
      read(limit: number): Promise<Uint8Array | undefined>;
    };

/** Response headers by lower-case name, as `node:http` keeps them (`res.getHeaders()`). */
export type ResponseHeaders = Record<string, string | number | readonly string[] | undefined>;

/** A response the route produced, whole: what core stores and what the first client gets. */
export interface RouteResponse {
  status: number;
  statusText?: string;
  /** The route's headers. Core removes `Idempotent-Replayed` from them: it belongs to replays. */
  headers: ResponseHeaders;
  /**
   * Headers the response had before the route ran, set for this request by middleware (CORS,
   * security headers): not stored, so a replay carries the replaying request's own.
   */
  inherited?: ResponseHeaders;
  body: Uint8Array;
}

/** The head of a response whose body is not held whole (streamed, over the cap, or cut short). */
export type RouteResponseHead = Omit<RouteResponse, "body">;

/** An answer core makes itself (a replay, a problem): sent as it is, body whole. */
export interface HttpAnswer {
  status: number;
  /** Empty when the status' standard reason applies. */
  statusText: string;
  /** Lower-case names; a name may repeat. Never `Content-Length`: that follows from the body. */
  headers: [string, string][];
  body: Uint8Array;
}

/** What a route handler is told about its request. */
export interface HandlerContext {
  /** The client's idempotency key (unscoped), or `undefined` when the request passed through. */
  key: string | undefined;
  /** The fence of this claim: grows with every claim of the key. `undefined` on pass-through. */
  fence: number | undefined;
  /** Fires when the lease is lost mid-handler; a new owner may be running. */
  signal: AbortSignal;
}

/** Why a response cannot be replayed although the work ran. */
export type UnreplayableReason = "streamed" | "oversized" | "incomplete";
