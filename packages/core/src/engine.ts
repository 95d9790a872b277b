import { StoreUnavailableError } from "./errors.js";
import type { EventStream, IdempotencyEvent, StoreOperation } from "./events.js";
import type {
  ClaimResult,
  CompletedRecord,
  IdempotencyRecord,
  IdempotencyStore,
  InProgressRecord,
} from "./store.js";

/**
 * The state machine, in one place (DESIGN §2). Callers (the HTTP layer, `run()`) ask it to claim a
 * key and get back what to do: run the work under a lease, replay, report a conflict or a mismatch.
 * Stores only provide the atomic primitives.
 */
export interface EngineOptions {
  store: IdempotencyStore;
  /** Lease length; a crashed owner frees the key after it. Default 30 s. */
  leaseMs?: number;
  /** How long a completed outcome is kept for replay. Default 24 h. */
  retentionMs?: number;
  /** How often a running handler's lease is extended. Default a third of the lease. */
  heartbeatMs?: number;
  /** Bound on every store call; past it the call counts as failed (fail closed). Default 2 s. */
  storeTimeoutMs?: number;
}

export type ClaimDecision =
  | { kind: "acquired"; lease: Lease }
  | { kind: "replay"; record: CompletedRecord }
  | { kind: "conflict"; record: InProgressRecord }
  | { kind: "mismatch"; record: IdempotencyRecord };

export type CompletionResult = "completed" | "lease-lost" | "store-error";

/** The right to run the work for one key, held while the heartbeat keeps the lease alive. */
export interface Lease {
  readonly key: string;
  readonly token: string;
  /** Grows with every successful claim of the key: pass it downstream to reject a stale owner. */
  readonly fence: number;
  /** Fires when the lease is lost (taken over, or not renewed in time). */
  readonly signal: AbortSignal;
  /** Stores the outcome (CAS on the token) and ends the lease. */
  complete(result: Uint8Array): Promise<CompletionResult>;
  /**
   * Runs `work` as the owner: it gets the fence and the lease's signal (read through, so the
   * AbortController exists only if the work uses it). A throw releases the key and is rethrown.
   */
  run<T>(work: (context: { fence: number; readonly signal: AbortSignal }) => T | Promise<T>): Promise<T>;
  /** Frees the key so a retry runs again (CAS on the token) and ends the lease. */
  release(reason: "error" | "not-stored"): Promise<void>;
  /**
   * Stops the heartbeat without touching the record: the key stays claimed until its lease ends.
   * For an outcome that is neither storable nor safe to release (the work may have run).
   */
  abandon(): void;
}

type EventInput = IdempotencyEvent extends infer E
  ? E extends IdempotencyEvent
    ? Omit<E, "at">
    : never
  : never;

export class LeaseLostError extends Error {
  constructor(key: string) {
    super(`The lease on idempotency key "${key}" was lost`);
    this.name = "LeaseLostError";
  }
}

export class Engine {
  readonly store: IdempotencyStore;
  readonly leaseMs: number;
  readonly retentionMs: number;
  readonly heartbeatMs: number;
  readonly storeTimeoutMs: number;
  readonly #events: EventStream;

  constructor(options: EngineOptions, events: EventStream) {
    this.store = options.store;
    this.leaseMs = positive("leaseMs", options.leaseMs ?? 30_000);
    this.retentionMs = positive("retentionMs", options.retentionMs ?? 24 * 60 * 60 * 1000);
    this.heartbeatMs = positive(
      "heartbeatMs",
      options.heartbeatMs ?? Math.max(1, Math.floor(this.leaseMs / 3)),
    );
    this.storeTimeoutMs = positive("storeTimeoutMs", options.storeTimeoutMs ?? 2_000);
    if (this.heartbeatMs >= this.leaseMs) throw new RangeError("heartbeatMs must be shorter than leaseMs");
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
   * the store's record of that token is recognised as ours (DESIGN §2 rule 5).
   */
  async claim(key: string, fingerprint: string): Promise<ClaimDecision> {
    const token = crypto.randomUUID();
    const started = performance.now();
    const request = {
      token,
      fingerprint,
      leaseMs: this.leaseMs,
      retentionMs: Math.max(this.leaseMs, this.retentionMs),
    };
    // The lease may have started when the first attempt was sent: count from there. Monotonic, so a
    // wall-clock step (NTP) can neither fake a lost lease nor stop the heartbeat.
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
      for (const pending of attempts) {
        pending.then(
          (late) => {
            if (late.acquired || (late.record.state === "in_progress" && late.record.token === token)) {
              this.store.release(key, token).catch(() => {});
            }
          },
          () => {},
        );
      }
      throw error;
    }
    const durationMs = performance.now() - started;

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
      return { kind: "acquired", lease: this.#lease(key, token, fence, sentAt) };
    }
    return this.decide(key, fingerprint, (result as { record: IdempotencyRecord }).record, durationMs);
  }

  /** What a caller gets for a live record it does not own: a mismatch, a replay or a conflict. */
  decide(
    key: string,
    fingerprint: string,
    record: IdempotencyRecord,
    durationMs: number,
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
    if (listening) this.emit({ type: "conflict", key, durationMs });
    return { kind: "conflict", record };
  }

  /**
   * Like `claim`, but while the first attempt is in flight it polls (with backoff) until that one
   * completes (replay), releases (then this caller claims it) or `timeoutMs` passes (conflict).
   */
  async claimOrWait(
    key: string,
    fingerprint: string,
    timeoutMs: number,
    pollMs: number,
  ): Promise<ClaimDecision> {
    const deadline = performance.now() + timeoutMs;
    let delay = pollMs;
    for (;;) {
      const decision = await this.claim(key, fingerprint);
      if (decision.kind !== "conflict" || performance.now() + delay > deadline) return decision;
      await sleep(delay);
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

  #lease(key: string, token: string, fence: number, sentAt: number): Lease {
    return new ActiveLease(this, key, token, fence, sentAt);
  }
}

/**
 * A held lease. One timer per lease, armed for whichever comes first: the next heartbeat, or the
 * deadline. The lease is known good until `sentAt + leaseMs` (local monotonic clock, counted from
 * when the request that set it was sent); if no renewal is confirmed by then, another owner may take
 * over, so the signal fires at that moment, not at the next failed heartbeat. A class with its state
 * in fields, not a bundle of closures: one is made for every request that runs work.
 */
class ActiveLease implements Lease {
  readonly #engine: Engine;
  readonly key: string;
  readonly token: string;
  readonly fence: number;
  readonly #claimedAt = performance.now();
  // The signal's controller is made on first use of `signal` (most work never looks at it); a loss
  // before then is remembered and the signal is born aborted with the same reason.
  #controller: AbortController | undefined;
  #lostReason: LeaseLostError | undefined;
  #ended = false;
  #deadlineAt: number;
  #nextBeatAt: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #extending = false;

  constructor(engine: Engine, key: string, token: string, fence: number, sentAt: number) {
    this.#engine = engine;
    this.key = key;
    this.token = token;
    this.fence = fence;
    this.#deadlineAt = sentAt + engine.leaseMs;
    this.#nextBeatAt = performance.now() + engine.heartbeatMs;
    this.#arm();
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#lostReason !== undefined) this.#controller.abort(this.#lostReason);
    }
    return this.#controller.signal;
  }

  async run<T>(
    work: (context: { fence: number; readonly signal: AbortSignal }) => T | Promise<T>,
  ): Promise<T> {
    const lease = this;
    try {
      // A plain object (spreading it keeps `signal`), its signal read through to the lease.
      return await work({
        fence: this.fence,
        get signal() {
          return lease.signal;
        },
      });
    } catch (error) {
      await this.release("error");
      throw error;
    }
  }

  async complete(result: Uint8Array): Promise<CompletionResult> {
    this.#end();
    const engine = this.#engine;
    // Even after the signal fired, try: the CAS on the token is what decides ownership.
    try {
      const ok = await engine.call("complete", this.key, () =>
        engine.store.complete(this.key, this.token, { result, retentionMs: engine.retentionMs }),
      );
      if (!ok) {
        this.#lose("complete");
        return "lease-lost";
      }
      if (this.#engine.listening) {
        engine.emit({
          type: "completed",
          key: this.key,
          fence: this.fence,
          durationMs: performance.now() - this.#claimedAt,
          bytes: result.length,
        });
      }
      return "completed";
    } catch {
      return "store-error";
    }
  }

  abandon(): void {
    this.#end();
  }

  async release(reason: "error" | "not-stored"): Promise<void> {
    this.#end();
    const engine = this.#engine;
    try {
      const ok = await engine.call("release", this.key, () => engine.store.release(this.key, this.token));
      if (!ok) this.#lose("release");
      else if (this.#engine.listening) {
        engine.emit({
          type: "released",
          key: this.key,
          fence: this.fence,
          durationMs: performance.now() - this.#claimedAt,
          reason,
        });
      }
    } catch {
      // The key stays claimed until its lease ends: a retry gets 409 until then, never a double run.
    }
  }

  #lose(phase: "heartbeat" | "complete" | "release"): void {
    if (this.#lostReason !== undefined) return;
    this.#lostReason = new LeaseLostError(this.key);
    if (this.#engine.listening)
      this.#engine.emit({ type: "lease-lost", key: this.key, fence: this.fence, phase });
    this.#controller?.abort(this.#lostReason);
  }

  #end(): void {
    this.#ended = true;
    clearTimeout(this.#timer);
  }

  #arm(): void {
    clearTimeout(this.#timer);
    const delay = Math.max(0, Math.min(this.#deadlineAt, this.#nextBeatAt) - performance.now());
    this.#timer = setTimeout(tickLease, delay, this); // the lease as the argument: no closure per arm
    (this.#timer as { unref?: () => void }).unref?.();
  }

  /** The timer fired: the deadline passed unconfirmed (the lease is lost), or a heartbeat is due. */
  tick(): void {
    this.#timer = undefined;
    if (this.#ended) return;
    const now = performance.now();
    if (now >= this.#deadlineAt) {
      this.#deadlineAt = Number.POSITIVE_INFINITY; // until a renewal is confirmed again
      this.#lose("heartbeat");
    }
    if (now >= this.#nextBeatAt) {
      this.#nextBeatAt = now + this.#engine.heartbeatMs;
      // `lose` may have run a listener that ended the lease: no renewal after that.
      if (!this.#ended && !this.#extending) void this.#beat();
    }
    if (!this.#ended) this.#arm();
  }

  async #beat(): Promise<void> {
    this.#extending = true;
    const engine = this.#engine;
    const sentAt = performance.now();
    try {
      const ok = await engine.call("extend", this.key, () =>
        engine.store.extend(this.key, this.token, engine.leaseMs),
      );
      if (this.#ended) return;
      if (ok) {
        this.#deadlineAt = sentAt + engine.leaseMs;
        this.#arm();
      } else this.#lose("heartbeat");
    } catch {
      // Unknown: keep trying while the last confirmed lease lasts (the deadline decides).
    } finally {
      this.#extending = false;
    }
  }
}

function tickLease(lease: ActiveLease): void {
  lease.tick();
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive number of ms`);
  return value;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
