import { CallDeadlines } from "./call-deadlines.js";
import { type EngineOptions, engineSettings } from "./engine-options.js";
import type { EventStream, IdempotencyEvent, StoreOperation } from "./events.js";
import { releaseLateClaims } from "./late-claims.js";
import { ActiveLease, type Lease } from "./lease.js";
import { LeaseTimers } from "./lease-timers.js";
import type {
  ClaimResult,
  CompletedRecord,
  CompleteRequest,
  IdempotencyRecord,
  IdempotencyStore,
  InProgressRecord,
  SynchronousCalls,
} from "./store.js";
import { boundedStoreCall, settledStoreCall } from "./store-call.js";

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

/**
 * The state machine, in one place (docs/design.md#state-machine). Callers (the HTTP layer, `run()`) ask it to claim a
 * key and get back what to do: run the work under a lease, replay, report a conflict or a mismatch.
 * Stores only provide the atomic primitives.
 */
export class Engine {
  readonly store: IdempotencyStore;
  readonly leaseMs: number;
  readonly retentionMs: number;
  readonly heartbeatMs: number;
  readonly maxHoldMs: number;
  readonly storeTimeoutMs: number;
  /**
   * The deadlines of this engine's store calls; `undefined` when the store's own timer settles every
   * call within `storeTimeoutMs`, or every call settles as it returns (store.ts, `settlesWithinMs`,
   * `settlesOnReturn`).
   */
  readonly callDeadlines: CallDeadlines | undefined;
  /** Whether `run()` completes a JSON value as result text: the store writes it (`completesWithText`). */
  readonly completesWithText: boolean;
  /** The timers of this engine's leases: their heartbeats, deadlines and maximum holds. */
  readonly leaseTimers = new LeaseTimers();
  readonly #events: EventStream;
  /** The store's calls without promises, if it settles every call as it returns and offers them. */
  readonly #synchronous: SynchronousCalls | undefined;

  constructor(options: EngineOptions, events: EventStream) {
    const settings = engineSettings(options);
    this.store = settings.store;
    this.leaseMs = settings.leaseMs;
    this.retentionMs = settings.retentionMs;
    this.heartbeatMs = settings.heartbeatMs;
    this.maxHoldMs = settings.maxHoldMs;
    this.storeTimeoutMs = settings.storeTimeoutMs;
    const bound = this.store.settlesWithinMs;
    const storeBoundsCalls =
      typeof bound === "number" && bound > 0 && bound <= this.storeTimeoutMs && Number.isFinite(bound);
    const settlesAtOnce = this.store.settlesOnReturn === true;
    this.callDeadlines =
      storeBoundsCalls || settlesAtOnce ? undefined : new CallDeadlines(this.storeTimeoutMs);
    this.completesWithText = this.store.completesWithText === true;
    this.#synchronous = settlesAtOnce ? this.store.synchronousCalls : undefined;
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
    return this.#claim(key, fingerprint, undefined, true);
  }

  /**
   * `claim`, with the events' `durationMs` counted from `started` (default: when this claim is sent);
   * a conflict is reported only if `reportConflict` (a waiter reports one when it gives up, not one
   * per poll).
   */
  async #claim(
    key: string,
    fingerprint: string,
    started: number | undefined,
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
    const synchronous = this.#synchronous;
    let result: ClaimResult;
    // Attempts that failed but may still land later: released once they do (`releaseLateClaims`).
    let stragglers: Promise<ClaimResult>[] | undefined;
    if (synchronous !== undefined && this.store.claim === synchronous.claimMethod) {
      // A listener hears nothing before the call that claims (`run()`, a middleware) has returned, as
      // with any other store.
      if (this.#events.active) await undefined;
      // Only a promise returned against the contract can land later (`settledStoreCall`).
      const late: Promise<ClaimResult>[] = [];
      const attempt = () => settledStoreCall(this, "claim", key, () => synchronous.claim(key, request), late);
      try {
        try {
          result = attempt();
        } catch {
          result = attempt();
        }
      } catch (error) {
        if (late.length > 0) releaseLateClaims(this.store, key, token, late, undefined);
        throw error;
      }
      if (late.length > 0) stragglers = late;
    } else {
      const sent: Promise<ClaimResult>[] = [];
      // Called inside the store call, so its duration counts a synchronous store's work too; a store
      // that throws synchronously fails like any other call (and leaves no attempt to land later).
      const attempt = () =>
        this.call("claim", key, () => {
          const pending = this.store.claim(key, request);
          sent.push(pending);
          return pending;
        });
      try {
        try {
          result = await attempt();
        } catch {
          result = await attempt();
        }
      } catch (error) {
        // Both attempts failed or timed out, but one may still land later and hold the key for a whole
        // lease: should it, release it (best effort), since nobody will run the work.
        releaseLateClaims(this.store, key, token, sent, undefined);
        throw error;
      }
      // The first attempt timed out or failed and the retry decided. The first may still land later,
      // after the key was released (the work threw) or taken by someone else: it would then acquire the
      // key for our token, which nobody holds (a phantom owner: 409 for a whole lease, a fence burnt).
      if (sent.length > 1) stragglers = sent.slice(0, -1);
    }
    // Only events read the clock again: unheard, a replay's claim reads it once (`sentAt`).
    const durationMs = this.#events.active ? performance.now() - (started ?? sentAt) : 0;

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
      return {
        kind: "acquired",
        lease: new ActiveLease(this, key, token, fence, takeover, sentAt, stragglers),
      };
    }
    // Not ours: anything a straggler acquires for our token is a phantom.
    if (stragglers !== undefined) releaseLateClaims(this.store, key, token, stragglers, undefined);
    return this.decide(
      key,
      fingerprint,
      (result as { record: IdempotencyRecord }).record,
      durationMs,
      reportConflict,
    );
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
   * The store's `complete`: its answer at once when the store offers its synchronous form
   * (`synchronousCalls`), else a promise of it, as `call`'s.
   */
  complete(key: string, token: string, outcome: CompleteRequest): boolean | Promise<boolean> {
    const synchronous = this.#synchronous;
    return synchronous !== undefined && this.store.complete === synchronous.completeMethod
      ? settledStoreCall(this, "complete", key, () => synchronous.complete(key, token, outcome))
      : this.call("complete", key, () => this.store.complete(key, token, outcome));
  }

  /** Runs one store call under `storeTimeoutMs`; a failure becomes `StoreUnavailableError` and an event. */
  call<T>(operation: StoreOperation, key: string, fn: () => Promise<T>): Promise<T> {
    return boundedStoreCall(this, operation, key, fn);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
