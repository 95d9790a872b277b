import { StoreUnavailableError } from "./errors.js";
import type { EventStream, IdempotencyEvent, StoreOperation } from "./events.js";
import { ActiveLease, type Lease } from "./lease.js";
import { describe, integerOption, MAX_TIMER_MS } from "./options-check.js";
import type {
  ClaimResult,
  CompletedRecord,
  IdempotencyRecord,
  IdempotencyStore,
  InProgressRecord,
} from "./store.js";

/**
 * The state machine, in one place (docs/design.md#state-machine). Callers (the HTTP layer, `run()`) ask it to claim a
 * key and get back what to do: run the work under a lease, replay, report a conflict or a mismatch.
 * Stores only provide the atomic primitives.
 */
export const ENGINE_OPTION_NAMES = [
  "store",
  "leaseMs",
  "retentionMs",
  "heartbeatMs",
  "maxHoldMs",
  "storeTimeoutMs",
];

export interface EngineOptions {
  store: IdempotencyStore;
  /** Lease length; a crashed owner frees the key after it. Default 30 s. */
  leaseMs?: number;
  /**
   * How long a completed outcome is kept for replay, and how long a record whose lease ended
   * (crashed, stalled or released owner) keeps its fence, so a takeover gets a higher one. Default 24 h.
   */
  retentionMs?: number;
  /** How often a running handler's lease is extended. Default a third of the lease. */
  heartbeatMs?: number;
  /**
   * How long a handler may hold its key, counted from the claim: past it the lease is no longer
   * renewed, the handler's `signal` fires (reason: an `IdempotencyError` with code
   * `max_hold_exceeded`), a `lease-lost` event with phase `max-hold` is emitted, and the key frees
   * when the last renewed lease ends, at most `maxHoldMs + leaseMs` after the claim. A handler that
   * never settles can then no longer answer every retry with 409 for as long as the process lives.
   * At least `leaseMs`; `Infinity` renews for as long as the handler runs. Default 1 hour (or
   * `leaseMs`, if longer): longer than any HTTP request lives behind common proxies and than most
   * jobs, because a key freed under a handler that is slow but alive lets a retry run the work a
   * second time.
   */
  maxHoldMs?: number;
  /** Bound on every store call; past it the call counts as failed (fail closed). Default 2 s. */
  storeTimeoutMs?: number;
}

export type ClaimDecision =
  | { kind: "acquired"; lease: Lease }
  | { kind: "replay"; record: CompletedRecord }
  | { kind: "conflict"; record: InProgressRecord }
  | { kind: "mismatch"; record: IdempotencyRecord };

type EventInput = IdempotencyEvent extends infer E
  ? E extends IdempotencyEvent
    ? Omit<E, "at">
    : never
  : never;

export class Engine {
  readonly store: IdempotencyStore;
  readonly leaseMs: number;
  readonly retentionMs: number;
  readonly heartbeatMs: number;
  readonly maxHoldMs: number;
  readonly storeTimeoutMs: number;
  readonly #events: EventStream;

  constructor(options: EngineOptions, events: EventStream) {
    this.store = storeOption(options.store);
    this.leaseMs = integerOption("leaseMs", options.leaseMs, 30_000, 2, MAX_TIMER_MS);
    this.retentionMs = integerOption(
      "retentionMs",
      options.retentionMs,
      24 * 60 * 60 * 1000,
      1,
      MAX_RETENTION_MS,
    );
    this.heartbeatMs = integerOption(
      "heartbeatMs",
      options.heartbeatMs,
      Math.max(1, Math.floor(this.leaseMs / 3)),
      1,
      this.leaseMs - 1,
    );
    this.maxHoldMs = maxHoldOption(options.maxHoldMs, this.leaseMs);
    this.storeTimeoutMs = integerOption("storeTimeoutMs", options.storeTimeoutMs, 2_000, 1, MAX_TIMER_MS);
    this.#events = events;
  }

  /** Whether any listener is subscribed; callers build an event only when one is. */
  get listening(): boolean {
    return this.#events.active;
  }

  emit(event: EventInput): void {
    if (!this.#events.active) return;
    (event as IdempotencyEvent).at = Date.now();
    this.#events.emit(event as IdempotencyEvent);
  }

  /**
   * Claims `key` for a request with `fingerprint`. Throws `StoreUnavailableError` when the store
   * cannot say (fail closed). A claim whose reply was lost is retried once with the same token, and
   * the store's record of that token is recognised as ours (docs/design.md#state-machine, rule 5).
   */
  claim(key: string, fingerprint: string): Promise<ClaimDecision> {
    return this.#claim(key, fingerprint, performance.now(), true);
  }

  /**
   * `claim`, with the events' `durationMs` counted from `started`; a conflict is reported only if
   * `reportConflict` (a waiter reports one when it gives up, not one per poll).
   */
  async #claim(
    key: string,
    fingerprint: string,
    started: number,
    reportConflict: boolean,
  ): Promise<ClaimDecision> {
    const token = crypto.randomUUID();
    // The store keeps the record `retentionMs` past its lease end (store.ts, `ClaimRequest`): a
    // takeover within that time sees the fence, however short the retention is next to the lease.
    const request = { token, fingerprint, leaseMs: this.leaseMs, retentionMs: this.retentionMs };
    // The lease may have started when the first attempt was sent: count from there. Monotonic, so a
    // wall-clock step (NTP) here can neither fake a lost lease nor stop the heartbeat; a step of the
    // store's clock is another matter (lease.ts, ActiveLease).
    const sentAt = performance.now();
    const attempts: Promise<ClaimResult>[] = [];
    const attempt = () => {
      let pending: Promise<ClaimResult>;
      try {
        pending = this.store.claim(key, request);
      } catch (error) {
        pending = Promise.reject(error); // a store that throws synchronously fails like any other call
      }
      attempts.push(pending);
      return this.call("claim", key, () => pending);
    };
    let result: ClaimResult;
    try {
      try {
        result = await attempt();
      } catch {
        result = await attempt();
      }
    } catch (error) {
      // Both attempts failed or timed out, but one may still land later and hold the key for a whole
      // lease: should it, release it (best effort), since nobody will run the work.
      this.releaseLate(key, token, attempts, undefined);
      throw error;
    }
    const durationMs = performance.now() - started;
    // The first attempt timed out or failed and the retry decided. The first may still land later,
    // after the key was released (the work threw) or taken by someone else: it would then acquire the
    // key for our token, which nobody holds (a phantom owner: 409 for a whole lease, a fence burnt).
    const stragglers = attempts.length > 1 ? attempts.slice(0, -1) : undefined;

    let fence: number | undefined;
    let takeover = false;
    if (result.acquired) {
      fence = result.fence;
      takeover = result.takeover;
    } else if (result.record.state === "in_progress" && result.record.token === token) {
      // Our own record: the first attempt acquired it and its reply was late or lost. The record
      // carries what that claim's reply would have said about a takeover.
      fence = result.record.fence;
      takeover = result.record.takeover;
    }

    if (fence !== undefined) {
      if (this.#events.active) {
        this.emit({ type: "claimed", key, fence, durationMs });
        // The store says whether it replaced an expired, unreleased lease. A fence above 1 alone is
        // no sign: a re-claim after a release gets one too.
        if (takeover) this.emit({ type: "takeover", key, fence });
      }
      // Stragglers are released once the lease has ended (ActiveLease, `#end`).
      return { kind: "acquired", lease: new ActiveLease(this, key, token, fence, sentAt, stragglers) };
    }
    // Not ours: anything a straggler acquires for our token is a phantom.
    if (stragglers !== undefined) this.releaseLate(key, token, stragglers, undefined);
    return this.decide(
      key,
      fingerprint,
      (result as { record: IdempotencyRecord }).record,
      durationMs,
      reportConflict,
    );
  }

  /**
   * Releases, best effort, what any of `attempts` (claims sent with `token`) acquired, when it lands:
   * an acquisition, or an in_progress record carrying `token`, with a fence other than `ours` (the
   * fence of the lease this claim gave its caller, whose own record is left alone; `undefined` when
   * there is none; docs/design.md#state-machine, rule 5).
   */
  releaseLate(
    key: string,
    token: string,
    attempts: readonly Promise<ClaimResult>[],
    ours: number | undefined,
  ): void {
    for (const pending of attempts) {
      pending.then(
        (late) => {
          const fence = late.acquired
            ? late.fence
            : late.record.state === "in_progress" && late.record.token === token
              ? late.record.fence
              : undefined;
          if (fence === undefined || fence === ours) return;
          try {
            this.store.release(key, token).catch(() => {});
          } catch {
            // a store that throws synchronously: nothing more to do, best effort
          }
        },
        () => {},
      );
    }
  }

  /**
   * What a caller gets for a live record it does not own: a mismatch, a replay or a conflict, each
   * reported as an event (a conflict only if `reportConflict`).
   */
  decide(
    key: string,
    fingerprint: string,
    record: IdempotencyRecord,
    durationMs: number,
    reportConflict = true,
  ): Exclude<ClaimDecision, { kind: "acquired" }> {
    const listening = this.#events.active;
    if (record.fingerprint !== fingerprint) {
      if (listening) this.emit({ type: "mismatch", key, durationMs });
      return { kind: "mismatch", record };
    }
    if (record.state === "completed") {
      if (listening) this.emit({ type: "replayed", key, durationMs });
      return { kind: "replay", record };
    }
    if (listening && reportConflict) this.emit({ type: "conflict", key, durationMs });
    return { kind: "conflict", record };
  }

  /**
   * What a retry of `key` would be answered now, for an owner whose completion was refused because
   * another owner took its key over: a replay, a conflict or a mismatch; `undefined` when the key is
   * gone. Throws `StoreUnavailableError` when the store cannot say.
   */
  async current(
    key: string,
    fingerprint: string,
  ): Promise<Exclude<ClaimDecision, { kind: "acquired" }> | undefined> {
    const started = performance.now();
    const record = await this.call("get", key, () => this.store.get(key));
    return record === undefined
      ? undefined
      : this.decide(key, fingerprint, record, performance.now() - started);
  }

  /**
   * Like `claim`, but while the first attempt is in flight it polls, with backoff (`pollMs`, doubling
   * up to 1 s), until that one completes (replay), releases (then this caller claims it) or
   * `timeoutMs` has passed: the last sleep is cut short to end on the deadline, and one more claim
   * then decides, so a waiter gives up (conflict) no sooner than it said. The wait is one decision:
   * one event (a single `conflict` when it gives up, none per poll), its `durationMs` counted from
   * the start of the wait.
   */
  async claimOrWait(
    key: string,
    fingerprint: string,
    timeoutMs: number,
    pollMs: number,
  ): Promise<ClaimDecision> {
    const started = performance.now();
    const deadline = started + timeoutMs;
    let delay = pollMs;
    for (;;) {
      const decision = await this.#claim(key, fingerprint, started, false);
      if (decision.kind !== "conflict") return decision;
      const now = performance.now();
      if (now >= deadline) {
        if (this.#events.active) this.emit({ type: "conflict", key, durationMs: now - started });
        return decision;
      }
      await sleep(Math.min(delay, Math.ceil(deadline - now)));
      delay = Math.min(delay * 2, 1_000);
    }
  }

  /**
   * Runs one store call under the timeout; a failure becomes `StoreUnavailableError` and an event.
   * One timer and one promise per call: the timer rejects it when the store has not answered in
   * `storeTimeoutMs`, and is cleared as soon as the store answers.
   */
  call<T>(operation: StoreOperation, key: string, fn: () => Promise<T>): Promise<T> {
    const started = performance.now();
    const ms = this.storeTimeoutMs;
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const fail = (error: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (this.#events.active) {
          this.emit({ type: "store-error", key, operation, durationMs: performance.now() - started, error });
        }
        reject(error instanceof StoreUnavailableError ? error : new StoreUnavailableError(operation, error));
      };
      const timer = setTimeout(
        () => fail(new StoreUnavailableError(operation, new Error(`timed out after ${ms} ms`))),
        ms,
      );
      let pending: Promise<T>;
      try {
        pending = fn();
      } catch (error) {
        fail(error);
        return;
      }
      Promise.resolve(pending).then((value) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(value);
      }, fail);
    });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The default maximum hold: an hour (or the lease, if longer). Longer than any HTTP request lives
 * behind common proxies and load balancers, and than most jobs, because the two ways to get it wrong
 * are not alike: too long, a handler that never settles answers its key's retries with 409 for that
 * long; too short, the key is freed under a handler that is slow but alive, and a retry runs the
 * work a second time.
 */
const DEFAULT_MAX_HOLD_MS = 60 * 60 * 1000;

/** `maxHoldMs`: an integer from `leaseMs` up, or `Infinity` (renewed as long as the handler runs). */
function maxHoldOption(value: unknown, leaseMs: number): number {
  if (value === undefined) return Math.max(DEFAULT_MAX_HOLD_MS, leaseMs);
  if (
    value === Number.POSITIVE_INFINITY ||
    (typeof value === "number" && Number.isSafeInteger(value) && value >= leaseMs)
  ) {
    return value;
  }
  throw new RangeError(
    `maxHoldMs must be an integer from ${leaseMs} (leaseMs) to ${Number.MAX_SAFE_INTEGER}, or Infinity; got ${describe(value)}`,
  );
}

/** Ten years: longer than any store needs to keep a record, and within what each can represent. */
const MAX_RETENTION_MS = 10 * 365 * 24 * 60 * 60 * 1000;

const STORE_METHODS = ["claim", "complete", "release", "extend", "get", "delete"] as const;

function storeOption(store: unknown): IdempotencyStore {
  const missing = STORE_METHODS.filter(
    (m) => typeof (store as Record<string, unknown> | null)?.[m] !== "function",
  );
  if (missing.length > 0) {
    throw new TypeError(
      `store must be an idempotency store (createMemoryStore(), createRedisStore(…), …); got ${describe(store)}` +
        (store && typeof store === "object" ? ` without ${missing.join(", ")}` : ""),
    );
  }
  return store as IdempotencyStore;
}
