import { canonicalParsedJson, fingerprintRequestSoon } from "../fingerprint.js";
import { composeStoredKey, parseIdempotencyKey } from "../key.js";
import type { ExchangeBody, HttpAnswer, HttpExchange } from "./exchange.js";
import type { HttpPolicy, Scope } from "./policy.js";
import type { ProblemType } from "./problems.js";
import { routedTarget } from "./target.js";

/** A request passed on untouched, or answered by idemkit before any claim. */
export type Answered = { kind: "pass"; requestBody?: Uint8Array } | { kind: "answer"; answer: HttpAnswer };

/** A covered request with a valid key, ready to claim. */
export interface Prepared {
  kind: "prepared";
  key: string;
  storedKey: string;
  fingerprint: string;
  /** The body bytes, when they were read from a stream (the caller hands them on to the route). */
  requestBody: Uint8Array | undefined;
}

/** What preparing a request comes to: at once when nothing was waited for, otherwise in a promise. */
export type Preparing = Prepared | Answered | PromiseLike<Prepared | Answered>;

/** How the entry answers a request before any claim, each reported as `finished`. */
export interface Rejections<R> {
  /** A problem of `reason` saying `detail` (400, 413). */
  problem(exchange: HttpExchange<R>, started: number, reason: ProblemType, detail: string): Answered;
  /** A request without the key a required header asks for (400). */
  keyMissing(exchange: HttpExchange<R>, started: number): Answered;
}

/** A body as it is fingerprinted: bytes or canonical JSON, or `undefined` when over the cap. */
type ReadBody = Uint8Array | { canonicalJson: string } | undefined;

const PASS = { kind: "pass" } as const;
const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();

/**
 * Everything before the claim, for one set of options: coverage, key, target, body, fingerprint,
 * scope. It waits only for what answers in a promise (a streamed body, a `fingerprint` or `scope`
 * option's promise), so a request with a body given whole and a scope that answers at once is
 * prepared without a promise or a microtask of its own; the order of the calls is the same either way.
 */
export class Preparation<R> {
  readonly #policy: HttpPolicy<R>;
  readonly #scope: Scope<R>;
  readonly #keyPrefix: string;
  readonly #rejections: Rejections<R>;

  constructor(policy: HttpPolicy<R>, scope: Scope<R>, keyPrefix: string, rejections: Rejections<R>) {
    this.#policy = policy;
    this.#scope = scope;
    this.#keyPrefix = keyPrefix;
    this.#rejections = rejections;
  }

  /** Prepares `exchange`; may throw (a `fingerprint` option's throw, say) as well as reject. */
  prepare(exchange: HttpExchange<R>, started: number): Preparing {
    const policy = this.#policy;
    if (!policy.methods.has(exchange.method)) return PASS;
    const header = exchange.header(policy.headerName);
    if (header === undefined) {
      return policy.required ? this.#rejections.keyMissing(exchange, started) : PASS;
    }
    let key: string;
    try {
      key = parseIdempotencyKey(header);
    } catch (error) {
      return this.#rejections.problem(exchange, started, "key-invalid", (error as Error).message);
    }
    const target = routedTarget(exchange.target);
    if (target === undefined) {
      return this.#rejections.problem(
        exchange,
        started,
        "target-invalid",
        "The request target is neither a path nor an absolute URL.",
      );
    }
    const { body } = exchange;
    if (body.kind === "stream") return this.#readThenPrepare(exchange, started, key, target, body);
    return this.#withBody(exchange, started, key, target, this.#givenBody(body), undefined);
  }

  async #readThenPrepare(
    exchange: HttpExchange<R>,
    started: number,
    key: string,
    target: string,
    body: Extract<ExchangeBody, { kind: "stream" }>,
  ): Promise<Prepared | Answered> {
    const bytes = await body.read(this.#policy.maxRequestBytes);
    return this.#withBody(exchange, started, key, target, bytes, bytes);
  }

  /** The fingerprint of the read body, then the scope; `requestBody` is handed on to the route. */
  #withBody(
    exchange: HttpExchange<R>,
    started: number,
    key: string,
    target: string,
    body: ReadBody,
    requestBody: Uint8Array | undefined,
  ): Preparing {
    const policy = this.#policy;
    if (body === undefined) {
      return this.#rejections.problem(
        exchange,
        started,
        "request-too-large",
        `Requests with an idempotency key may carry at most ${policy.maxRequestBytes} bytes of body.`,
      );
    }
    const fingerprint = policy.fingerprint
      ? policy.fingerprint(
          exchange.request,
          body instanceof Uint8Array ? body : encoder.encode(body.canonicalJson),
        )
      : fingerprintRequestSoon(exchange.method, target, exchange.header("content-type"), body);
    if (typeof fingerprint !== "string") {
      return this.#waited(exchange, started, key, fingerprint, undefined, requestBody);
    }
    const scope = this.#askScope(exchange);
    if (answered(scope)) return this.#scoped(exchange, started, key, scope, fingerprint, requestBody);
    return this.#waited(exchange, started, key, fingerprint, { scope }, requestBody);
  }

  /** The scope of `exchange`'s key space, as the option answers it (`""` for `"global"`). */
  #askScope(exchange: HttpExchange<R>): unknown {
    return this.#scope === "global" ? "" : this.#scope(exchange.request);
  }

  /**
   * The rest of the preparation once the fingerprint or the scope answered in a promise: the scope is
   * asked (unless `asked`) only once the fingerprint is known, as without waiting. Awaited natively:
   * the app's own `Promise`, if it replaced the global one, may defer (bluebird).
   */
  async #waited(
    exchange: HttpExchange<R>,
    started: number,
    key: string,
    fingerprintSoon: string | PromiseLike<string>,
    asked: { scope: unknown } | undefined,
    requestBody: Uint8Array | undefined,
  ): Promise<Prepared | Answered> {
    const fingerprint = typeof fingerprintSoon === "string" ? fingerprintSoon : await fingerprintSoon;
    const scope = asked ? asked.scope : this.#askScope(exchange);
    const identity = answered(scope) ? scope : await scope;
    return this.#scoped(exchange, started, key, identity, fingerprint, requestBody);
  }

  #scoped(
    exchange: HttpExchange<R>,
    started: number,
    key: string,
    scope: unknown,
    fingerprint: string,
    requestBody: Uint8Array | undefined,
  ): Prepared | Answered {
    // An empty identity is no identity: it would be the key space "global" shares.
    if (typeof scope !== "string" || (scope === "" && this.#scope !== "global")) {
      // Whose key this is cannot be told: never fall into a key space shared with other callers.
      return this.#rejections.problem(
        exchange,
        started,
        "scope-missing",
        "This request carries no identity its idempotency key could belong to.",
      );
    }
    const storedKey = composeStoredKey(this.#keyPrefix, "http", scope, key);
    return { kind: "prepared", key, storedKey, fingerprint, requestBody };
  }

  /**
   * A body given whole (bytes, or a parser's value) as bytes or canonical JSON, or `undefined` when it
   * is over `maxRequestBytes`. Synchronous: a stream is read by `#readThenPrepare`.
   */
  #givenBody(body: Exclude<ExchangeBody, { kind: "stream" }>): ReadBody {
    const limit = this.#policy.maxRequestBytes;
    const value = body.kind === "bytes" ? body.bytes : body.value;
    if (value === undefined || value === null) return EMPTY;
    if (value instanceof Uint8Array) return value.length > limit ? undefined : value;
    if (typeof value === "string")
      return utf8Length(value, limit) > limit ? undefined : encoder.encode(value);
    const text = canonicalParsedJson(value);
    return utf8Length(text, limit) > limit ? undefined : { canonicalJson: text };
  }
}

/**
 * Whether preparing answered in a promise (or another thenable). Not `instanceof Promise`: an app may
 * have replaced the global `Promise` (bluebird, zone.js), and an async function's promise is then not
 * an instance of it. Prepared and answered requests are plain objects with no `then`.
 */
export function isWaiting(preparing: Preparing): preparing is PromiseLike<Prepared | Answered> {
  return "then" in preparing;
}

/** Whether a scope option's answer needs no waiting for (a string, or none). */
function answered(scope: unknown): scope is string | undefined {
  return typeof scope === "string" || scope === undefined;
}

/** The UTF-8 length of `text`, exact whenever it matters for `limit` (cheap when it plainly fits). */
function utf8Length(text: string, limit: number): number {
  if (text.length > limit) return text.length; // already over: a UTF-8 byte per code unit at least
  if (text.length * 3 <= limit) return text.length; // fits at any encoding width
  return encoder.encode(text).length;
}
