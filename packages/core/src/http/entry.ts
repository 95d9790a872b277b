import type { Engine } from "../engine.js";
import { StoreUnavailableError } from "../errors.js";
import { OUTCOME_OF_DECISION } from "../events.js";
import { canonicalParsedJson, fingerprintRequestSoon } from "../fingerprint.js";
import { composeStoredKey, parseIdempotencyKey } from "../key.js";
import { Answers } from "./answers.js";
import type {
  ExchangeBody,
  ExchangeHooks,
  HttpAnswer,
  HttpExchange,
  RouteResponseHead,
  UnreplayableReason,
} from "./exchange.js";
import { describeRequest, type RequestEnd } from "./finished.js";
import { type Outcome, outcomeOf, streamsThrough } from "./outcome.js";
import { OwnedRun } from "./owned-run.js";
import { type HttpPolicy, requireScope, type Scope } from "./policy.js";
import { type ProblemType, problem } from "./problems.js";
import { routedTarget } from "./target.js";

/** How a request begins: passed on untouched, answered by idemkit, or run as the key's owner. */
export type Begun =
  | { kind: "pass"; requestBody?: Uint8Array }
  | { kind: "answer"; answer: HttpAnswer }
  | OwnedRun;

/** A request `prepare` answered or passed on: no claim follows. */
type Answered = Exclude<Begun, OwnedRun>;

/** A covered request with a valid key, ready to claim. */
export interface Prepared {
  kind: "prepared";
  key: string;
  storedKey: string;
  fingerprint: string;
  /** The body bytes, when they were read from a stream (the caller hands them on to the route). */
  requestBody: Uint8Array | undefined;
}

const PASS = { kind: "pass" } as const;
const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();

/**
 * Core's HTTP semantics over the neutral exchange, for one set of options: coverage, key, body,
 * fingerprint and scope (`prepare`), then the claim and what it decides (`begin`).
 */
export class HttpEntry<R> {
  readonly answers: Answers;
  readonly policy: HttpPolicy<R>;
  readonly #engine: Engine;
  readonly #keyPrefix: string;
  readonly #scope: Scope<R>;
  readonly #route: ExchangeHooks<R>["route"];

  constructor(
    engine: Engine,
    keyPrefix: string,
    policy: HttpPolicy<R>,
    where: string,
    hooks: ExchangeHooks<R> = {},
  ) {
    this.#engine = engine;
    this.#keyPrefix = keyPrefix;
    this.policy = policy;
    this.#scope = requireScope(policy, where);
    this.answers = new Answers(policy as HttpPolicy<unknown>);
    this.#route = hooks.route;
  }

  /** Whether anyone listens to events: callers build a `RequestEnd` only then. */
  get listening(): boolean {
    return this.#engine.listening;
  }

  /** The `finished` event of a request that reached idemkit at `started` (`performance.now()`). */
  report(exchange: HttpExchange<R>, started: number, end: RequestEnd): void {
    const { key, outcome, status, fence, reason, error } = end;
    this.#engine.emit({
      type: "finished",
      key,
      outcome,
      durationMs: performance.now() - started,
      http: describeRequest(exchange, status, this.#route),
      ...(fence !== undefined && { fence }),
      ...(reason !== undefined && { reason }),
      ...(error !== undefined && { error }),
    });
  }

  /** The lease length: how long a claim holds its key without a heartbeat. */
  get leaseMs(): number {
    return this.#engine.leaseMs;
  }

  /** Largest response body held for storage. */
  get maxResponseBytes(): number {
    return this.policy.maxResponseBytes;
  }

  /** Whether a response with this head streams straight through (server-sent events). */
  streams(head: RouteResponseHead): boolean {
    return streamsThrough(this.policy as HttpPolicy<unknown>, head.status, head.headers);
  }

  /** What becomes of a route's response: see `outcomeOf`. */
  outcome(head: RouteResponseHead, body: Uint8Array, reason: UnreplayableReason | undefined): Outcome {
    return outcomeOf(this.policy as HttpPolicy<unknown>, head, body, reason);
  }

  /**
   * The answer for an owner whose completion was refused because its key was taken over: what a
   * retry would get now (the new owner's stored outcome, or 409 while it works), never the owner's
   * own response, which contradicts the key's record. 409 when the key is gone; 503 when the store
   * cannot say.
   */
  async superseded(storedKey: string, fingerprint: string): Promise<HttpAnswer> {
    try {
      const decision = await this.#engine.current(storedKey, fingerprint);
      return decision ? this.answers.forDecision(decision) : this.answers.conflict();
    } catch {
      return this.answers.unavailable();
    }
  }

  /** The 500 for a route response no server could send (a control character in a header, say). */
  invalidAnswer(why: string): HttpAnswer {
    return this.answers.problem(problem("response-invalid", `The route's response cannot be sent: ${why}.`));
  }

  /** Whether requests with this method are covered at all; others pass through untouched. */
  covers(method: string): boolean {
    return this.policy.methods.has(method);
  }

  /** Everything before the claim (`prepare`), then the claim and what it decides. Never throws: rejects. */
  begin(exchange: HttpExchange<R>): Promise<Begun> {
    const started = performance.now();
    let prepared: Prepared | Answered | Promise<Prepared | Answered>;
    try {
      prepared = this.#prepareSoon(exchange, started);
    } catch (error) {
      return Promise.reject(error);
    }
    // Most requests are prepared without waiting (a parsed body, the global scope): their claim is
    // sent at once, with no promise and no microtask of the preparation's own.
    if (prepared instanceof Promise)
      return prepared.then((ready) => this.#claimFor(exchange, ready, started));
    return this.#claimFor(exchange, prepared, started);
  }

  async #claimFor(exchange: HttpExchange<R>, prepared: Prepared | Answered, started: number): Promise<Begun> {
    if (prepared.kind !== "prepared") return prepared;
    const { storedKey, fingerprint } = prepared;
    const wait = this.policy.wait;
    let decision: Awaited<ReturnType<Engine["claim"]>>;
    try {
      decision = wait
        ? await this.#engine.claimOrWait(storedKey, fingerprint, wait.timeoutMs, wait.pollMs)
        : await this.#engine.claim(storedKey, fingerprint);
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      const answer = this.policy.failOpen ? undefined : this.answers.unavailable();
      if (this.listening) {
        this.report(exchange, started, {
          key: storedKey,
          outcome: "unavailable",
          status: answer?.status,
          error,
        });
      }
      return answer ? { kind: "answer", answer } : { kind: "pass", requestBody: prepared.requestBody };
    }
    if (decision.kind !== "acquired") {
      const answer = this.answers.forDecision(decision);
      if (this.listening) {
        const outcome = OUTCOME_OF_DECISION[decision.kind];
        this.report(exchange, started, { key: storedKey, outcome, status: answer.status });
      }
      return { kind: "answer", answer };
    }
    return new OwnedRun(
      decision.lease,
      prepared,
      this as HttpEntry<never>,
      exchange as HttpExchange<never>,
      started,
    );
  }

  /**
   * Everything before the claim: coverage, key, target, body, fingerprint, scope. A request rejected
   * here is reported as `finished`, counted from `started`.
   */
  async prepare(exchange: HttpExchange<R>, started = performance.now()): Promise<Prepared | Answered> {
    return this.#prepareSoon(exchange, started);
  }

  /**
   * `prepare`, answered at once when nothing needs waiting for (a body given whole, a fingerprint
   * hashed at once, the global scope), otherwise in a native promise. May throw.
   */
  #prepareSoon(
    exchange: HttpExchange<R>,
    started: number,
  ): Prepared | Answered | Promise<Prepared | Answered> {
    const policy = this.policy;
    if (!policy.methods.has(exchange.method)) return PASS;
    const header = exchange.header(policy.headerName);
    if (header === undefined) return policy.required ? this.reject(exchange, started, "key-missing") : PASS;
    let key: string;
    try {
      key = parseIdempotencyKey(header);
    } catch (error) {
      return this.#reject(exchange, started, "key-invalid", (error as Error).message);
    }
    const target = routedTarget(exchange.target);
    if (target === undefined) {
      return this.#reject(
        exchange,
        started,
        "target-invalid",
        "The request target is neither a path nor an absolute URL.",
      );
    }
    const { body } = exchange;
    if (body.kind === "stream") return this.#preparedFromStream(exchange, started, key, target, body);
    return this.#preparedWith(exchange, started, key, target, this.#givenBody(body), undefined);
  }

  /** `prepareSoon` of a body to be read from a stream. */
  async #preparedFromStream(
    exchange: HttpExchange<R>,
    started: number,
    key: string,
    target: string,
    body: Extract<ExchangeBody, { kind: "stream" }>,
  ): Promise<Prepared | Answered> {
    const bytes = await body.read(this.policy.maxRequestBytes);
    return this.#preparedWith(exchange, started, key, target, bytes, bytes);
  }

  /** `prepareSoon` once the body is read; `requestBody` is what the caller hands on to the route. */
  #preparedWith(
    exchange: HttpExchange<R>,
    started: number,
    key: string,
    target: string,
    body: ReadBody,
    requestBody: Uint8Array | undefined,
  ): Prepared | Answered | Promise<Prepared | Answered> {
    const policy = this.policy;
    if (body === undefined) {
      return this.#reject(
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
    if (typeof fingerprint === "string" && this.#scope === "global") {
      return { kind: "prepared", key, storedKey: this.#storedKey("", key), fingerprint, requestBody };
    }
    return this.#scoped(exchange, started, key, fingerprint, requestBody);
  }

  /** The rest of `#preparedWith` when the fingerprint or the scope is to be waited for. */
  async #scoped(
    exchange: HttpExchange<R>,
    started: number,
    key: string,
    fingerprintSoon: string | Promise<string>,
    requestBody: Uint8Array | undefined,
  ): Promise<Prepared | Answered> {
    const fingerprint = await fingerprintSoon;
    const scope = this.#scope === "global" ? "" : await this.#scope(exchange.request);
    // An empty identity is no identity: it would be the key space "global" shares.
    if (typeof scope !== "string" || (scope === "" && this.#scope !== "global")) {
      // Whose key this is cannot be told: never fall into a key space shared with other callers.
      return this.#reject(
        exchange,
        started,
        "scope-missing",
        "This request carries no identity its idempotency key could belong to.",
      );
    }
    return { kind: "prepared", key, storedKey: this.#storedKey(scope, key), fingerprint, requestBody };
  }

  #storedKey(scope: string, key: string): string {
    return composeStoredKey(this.#keyPrefix, "http", scope, key);
  }

  /** A request without a key where one is required: 400, reported like every other request. */
  reject(exchange: HttpExchange<R>, started: number, reason: "key-missing") {
    return this.#reject(exchange, started, reason, this.answers.keyMissing());
  }

  /** A request answered before any claim (400, 413): reported like every other request. */
  #reject(exchange: HttpExchange<R>, started: number, reason: ProblemType, detail: string | HttpAnswer) {
    const answer = typeof detail === "string" ? this.answers.problem(problem(reason, detail)) : detail;
    if (this.listening) {
      this.report(exchange, started, { key: undefined, outcome: "rejected", status: answer.status, reason });
    }
    return { kind: "answer" as const, answer };
  }

  /**
   * A body given whole (bytes, or a parser's value) as bytes or canonical JSON, or `undefined` when it
   * is over `maxRequestBytes`. Synchronous: a stream is read by `prepare` itself.
   */
  #givenBody(body: Exclude<ExchangeBody, { kind: "stream" }>): ReadBody {
    const limit = this.policy.maxRequestBytes;
    const value = body.kind === "bytes" ? body.bytes : body.value;
    if (value === undefined || value === null) return EMPTY;
    if (value instanceof Uint8Array) return value.length > limit ? undefined : value;
    if (typeof value === "string")
      return utf8Length(value, limit) > limit ? undefined : encoder.encode(value);
    const text = canonicalParsedJson(value);
    return utf8Length(text, limit) > limit ? undefined : { canonicalJson: text };
  }
}

/** A body as `prepare` fingerprints it: bytes or canonical JSON, or `undefined` when over the cap. */
type ReadBody = Uint8Array | { canonicalJson: string } | undefined;

/** The UTF-8 length of `text`, exact whenever it matters for `limit` (cheap when it plainly fits). */
function utf8Length(text: string, limit: number): number {
  if (text.length > limit) return text.length; // already over: a UTF-8 byte per code unit at least
  if (text.length * 3 <= limit) return text.length; // fits at any encoding width
  return encoder.encode(text).length;
}
