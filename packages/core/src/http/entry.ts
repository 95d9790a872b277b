import type { Engine } from "../engine.js";
import { StoreUnavailableError } from "../errors.js";
import { canonicalParsedJson, fingerprintRequest } from "../fingerprint.js";
import { composeStoredKey, parseIdempotencyKey } from "../key.js";
import { Answers } from "./answers.js";
import type {
  ExchangeBody,
  HttpAnswer,
  HttpExchange,
  RouteResponseHead,
  UnreplayableReason,
} from "./exchange.js";
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

  constructor(engine: Engine, keyPrefix: string, policy: HttpPolicy<R>, where: string) {
    this.#engine = engine;
    this.#keyPrefix = keyPrefix;
    this.policy = policy;
    this.#scope = requireScope(policy, where);
    this.answers = new Answers(policy as HttpPolicy<unknown>);
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

  async begin(exchange: HttpExchange<R>): Promise<Begun> {
    const prepared = await this.prepare(exchange);
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
      if (this.policy.failOpen) return { kind: "pass", requestBody: prepared.requestBody };
      return { kind: "answer", answer: this.answers.unavailable() };
    }
    if (decision.kind !== "acquired") return { kind: "answer", answer: this.answers.forDecision(decision) };
    return new OwnedRun(decision.lease, prepared, this as HttpEntry<never>);
  }

  /** Everything before the claim: coverage, key, target, body, fingerprint, scope. */
  async prepare(exchange: HttpExchange<R>): Promise<Prepared | Exclude<Begun, OwnedRun>> {
    const policy = this.policy;
    if (!policy.methods.has(exchange.method)) return PASS;
    const header = exchange.header(policy.headerName);
    if (header === undefined)
      return policy.required ? this.#reject("key-missing", this.answers.keyMissing()) : PASS;
    let key: string;
    try {
      key = parseIdempotencyKey(header);
    } catch (error) {
      return this.#reject("key-invalid", (error as Error).message);
    }
    const target = routedTarget(exchange.target);
    if (target === undefined) {
      return this.#reject("target-invalid", "The request target is neither a path nor an absolute URL.");
    }
    const body = await this.#readBody(exchange.body);
    if (body === undefined) {
      return this.#reject(
        "request-too-large",
        `Requests with an idempotency key may carry at most ${policy.maxRequestBytes} bytes of body.`,
      );
    }
    const fingerprint = policy.fingerprint
      ? await policy.fingerprint(
          exchange.request,
          body instanceof Uint8Array ? body : encoder.encode(body.canonicalJson),
        )
      : await fingerprintRequest(exchange.method, target, exchange.header("content-type"), body);
    const scope = this.#scope === "global" ? "" : await this.#scope(exchange.request);
    // An empty identity is no identity: it would be the key space "global" shares.
    if (typeof scope !== "string" || (scope === "" && this.#scope !== "global")) {
      // Whose key this is cannot be told: never fall into a key space shared with other callers.
      return this.#reject(
        "scope-missing",
        "This request carries no identity its idempotency key could belong to.",
      );
    }
    return {
      kind: "prepared",
      key,
      storedKey: composeStoredKey(this.#keyPrefix, "http", scope, key),
      fingerprint,
      requestBody: exchange.body.kind === "stream" ? (body as Uint8Array) : undefined,
    };
  }

  /** A request answered before any claim (400, 413): counted like every other request. */
  #reject(reason: ProblemType, detail: string | HttpAnswer) {
    const answer = typeof detail === "string" ? this.answers.problem(problem(reason, detail)) : detail;
    if (this.#engine.listening)
      this.#engine.emit({ type: "rejected", key: undefined, reason, status: answer.status });
    return { kind: "answer" as const, answer };
  }

  /** The body as bytes or canonical JSON, or `undefined` when it is over `maxRequestBytes`. */
  async #readBody(body: ExchangeBody): Promise<Uint8Array | { canonicalJson: string } | undefined> {
    const limit = this.policy.maxRequestBytes;
    if (body.kind === "stream") return body.read(limit);
    const value = body.kind === "bytes" ? body.bytes : body.value;
    if (value === undefined || value === null) return EMPTY;
    if (value instanceof Uint8Array) return value.length > limit ? undefined : value;
    if (typeof value === "string")
      return utf8Length(value, limit) > limit ? undefined : encoder.encode(value);
    const text = canonicalParsedJson(value);
    return utf8Length(text, limit) > limit ? undefined : { canonicalJson: text };
  }
}

/** The UTF-8 length of `text`, exact whenever it matters for `limit` (cheap when it plainly fits). */
function utf8Length(text: string, limit: number): number {
  if (text.length > limit) return text.length; // already over: a UTF-8 byte per code unit at least
  if (text.length * 3 <= limit) return text.length; // fits at any encoding width
  return encoder.encode(text).length;
}
