import type { Engine } from "../engine.js";
import { StoreUnavailableError } from "../errors.js";
import { OUTCOME_OF_DECISION } from "../events.js";
import { Answers } from "./answers.js";
import type {
  ExchangeHooks,
  HttpAnswer,
  HttpExchange,
  RouteResponseHead,
  UnreplayableReason,
} from "./exchange.js";
import { describeRequest, type RequestEnd } from "./finished.js";
import { type Outcome, outcomeOf, streamsThrough } from "./outcome.js";
import { OwnedRun } from "./owned-run.js";
import { type HttpPolicy, requireScope } from "./policy.js";
import { type Answered, isWaiting, Preparation, type Prepared } from "./prepare.js";
import { type ProblemType, problem } from "./problems.js";

export type { Prepared } from "./prepare.js";

/** How a request begins: passed on untouched, answered by idemkit, or run as the key's owner. */
export type Begun = Answered | OwnedRun;

/**
 * Core's HTTP semantics over the neutral exchange, for one set of options: coverage, key, body,
 * fingerprint and scope (`prepare`), then the claim and what it decides (`begin`).
 */
export class HttpEntry<R> {
  readonly answers: Answers;
  readonly policy: HttpPolicy<R>;
  readonly #engine: Engine;
  readonly #preparation: Preparation<R>;
  readonly #route: ExchangeHooks<R>["route"];

  constructor(
    engine: Engine,
    keyPrefix: string,
    policy: HttpPolicy<R>,
    where: string,
    hooks: ExchangeHooks<R> = {},
  ) {
    this.#engine = engine;
    this.policy = policy;
    this.answers = new Answers(policy as HttpPolicy<unknown>);
    this.#preparation = new Preparation(policy, requireScope(policy, where), keyPrefix, {
      problem: (exchange, started, reason, detail) => this.#reject(exchange, started, reason, detail),
      keyMissing: (exchange, started) => this.reject(exchange, started, "key-missing"),
    });
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
    let preparing: ReturnType<Preparation<R>["prepare"]>;
    try {
      preparing = this.#preparation.prepare(exchange, started);
    } catch (error) {
      return Promise.reject(error);
    }
    // A request prepared without waiting (a body given whole, a scope that answers at once) sends its
    // claim at once, with no promise and no microtask of its preparation's own.
    if (isWaiting(preparing)) return this.#claimWhenPrepared(exchange, preparing, started);
    return this.#claimFor(exchange, preparing, started);
  }

  /** Awaited natively: the app's own `Promise`, if it replaced the global one, may defer (bluebird). */
  async #claimWhenPrepared(
    exchange: HttpExchange<R>,
    preparing: PromiseLike<Prepared | Answered>,
    started: number,
  ): Promise<Begun> {
    return this.#claimFor(exchange, await preparing, started);
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
    return this.#preparation.prepare(exchange, started);
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
}
