import type { Engine } from "./engine.js";
import { LeaseLostError, MaxHoldExceededError } from "./errors.js";
import { freeKey } from "./free-key.js";
import { releaseLateClaims } from "./late-claims.js";
import { completeRequest } from "./lazy-result.js";
import { LeaseAlarm } from "./lease-timers.js";
import { resultTextByteLength } from "./result-text.js";
import type { ClaimResult } from "./store.js";
import { workContext } from "./work-context.js";

export type CompletionResult = "completed" | "lease-lost" | "store-error";

/** The right to run the work for one key, held while the heartbeat keeps the lease alive. */
export interface Lease {
  readonly key: string;
  readonly token: string;
  /** Grows with every successful claim of the key: pass it downstream to reject a stale owner. */
  readonly fence: number;
  /**
   * Fires when the lease is lost (taken over, or not renewed in time; reason: a `LeaseLostError`,
   * code `lease_lost`) or when the handler has held its key for `maxHoldMs` (reason: a
   * `MaxHoldExceededError`, code `max_hold_exceeded`; the lease is not renewed from then on).
   */
  readonly signal: AbortSignal;
  /**
   * Stores the outcome (CAS on the token) and ends the lease: its bytes, or its result text, which the
   * store gets as `resultText` with `result` built from it only if read.
   */
  complete(outcome: Uint8Array | string): Promise<CompletionResult>;
  /**
   * Runs `work` as the owner: it gets the fence and the lease's signal (read through, so the
   * AbortController exists only if the work uses it). A throw releases the key and is rethrown.
   */
  run<T>(work: (context: { fence: number; readonly signal: AbortSignal }) => T | Promise<T>): Promise<T>;
  /** Frees the key so a retry runs again (CAS on the token; see `freeKey`) and ends the lease. */
  release(reason: "error" | "not-stored"): Promise<void>;
  /**
   * Stops the heartbeat without touching the record: the key stays claimed until its lease ends.
   * For an outcome that is neither storable nor safe to release (the work may have run).
   */
  abandon(): void;
}

/**
 * Stores judge deadlines in whole milliseconds of their clock, and one that floors it (`Date.now()`,
 * Mongo's `$$NOW`) starts a lease at the millisecond the claim arrived in: up to 1 ms before it did. Our
 * deadline counts from that much before we sent the request, so it still comes first.
 */
const STORE_CLOCK_UNIT_MS = 1;

/**
 * A held lease. One alarm per lease (in its engine's lease timers, lease-timers.ts), set for whichever
 * comes first: the next heartbeat, or the deadline: `sentAt - 1 ms + leaseMs` on the local monotonic
 * clock, counted from when the request that set the lease was sent (so before the store started it),
 * less the millisecond a store's clock may floor away (STORE_CLOCK_UNIT_MS). If no renewal is confirmed
 * by then, another owner may take over, so the signal fires at that moment, not at the next failed
 * heartbeat.
 *
 * What that guarantees: the signal fires before the store's lease ends *as long as the store's clock
 * runs no faster than ours over the lease* (store.ts, `ClaimRequest.leaseMs`: a lease never ends before
 * `leaseMs` after the claim's arrival, floored at worst to the millisecond). Being monotonic, our timer
 * ignores wall-clock steps here: a step can neither fake a loss nor stop the heartbeat. What it cannot
 * do: see the store's clock. A store that judges by a wall clock (SQLite's `Date.now()`, a server's
 * clock) ends the lease early by the size of a forward step of that clock, and another owner can then
 * take over while this one's signal has not fired yet; the new owner has a higher fence, and this one's
 * completion is refused (docs/guarantees.md, "Clocks").
 *
 * Maximum hold: at `sentAt + maxHoldMs` the timer fires once more, the lease stops renewing (it is
 * held up to the end of its last renewal, at most `leaseMs` later), the signal fires with a
 * `MaxHoldExceededError` and a `lease-lost` event with phase `max-hold` says why. The lease is not
 * ended: `complete`, `release` and `abandon` still work, and their CAS decides. A completion before
 * the last renewal ends is stored as usual; one after it is refused (the store treats the expired
 * lease as lost whether or not anyone took the key over): `lease-lost`, answered as a superseded
 * owner is. At most once per lease, as ever.
 *
 * A class with its state in fields, not a bundle of closures: one is made for every request that runs work.
 */
export class ActiveLease implements Lease {
  readonly #engine: Engine;
  readonly key: string;
  readonly token: string;
  readonly fence: number;
  /** Whether this claim took the key over from an owner whose lease ran out (see `freeKey`). */
  readonly #takeover: boolean;
  readonly #claimedAt: number;
  // The signal's controller is made on first use of `signal` (most work never looks at it); a loss
  // before then is remembered and the signal is born aborted with the same reason.
  #controller: AbortController | undefined;
  #lostReason: LeaseLostError | MaxHoldExceededError | undefined;
  /** Completed, released, abandoned, or past its maximum hold: no more heartbeats. */
  #ended = false;
  #deadlineAt: number;
  #nextBeatAt: number;
  /** When the maximum hold ends (`Infinity` when there is none). */
  readonly #holdUntil: number;
  /** Its place in the engine's lease timers. */
  readonly #alarm = new LeaseAlarm(this);
  #extending = false;
  /** Earlier attempts of the claim that gave this lease, still to be cleaned up when it ends. */
  #stragglers: readonly Promise<ClaimResult>[] | undefined;

  constructor(
    engine: Engine,
    key: string,
    token: string,
    fence: number,
    takeover: boolean,
    sentAt: number,
    stragglers?: readonly Promise<ClaimResult>[],
  ) {
    this.#engine = engine;
    this.key = key;
    this.token = token;
    this.fence = fence;
    this.#takeover = takeover;
    this.#stragglers = stragglers;
    this.#deadlineAt = sentAt - STORE_CLOCK_UNIT_MS + engine.leaseMs;
    // One reading of the clock for the lease's start, its first heartbeat and its timer.
    const now = performance.now();
    this.#claimedAt = now;
    this.#nextBeatAt = now + engine.heartbeatMs;
    this.#holdUntil = sentAt + engine.maxHoldMs;
    this.#arm(now);
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
    try {
      return await work(workContext({ fence: this.fence }, this));
    } catch (error) {
      await this.release("error");
      throw error;
    }
  }

  async complete(outcome: Uint8Array | string): Promise<CompletionResult> {
    this.#end();
    const engine = this.#engine;
    // Even after the signal fired, try: the CAS on the token is what decides ownership.
    try {
      const answer = engine.complete(this.key, this.token, completeRequest(outcome, engine.retentionMs));
      // A store's synchronous answer is taken as it is: no turn of the microtask queue.
      const ok = typeof answer === "boolean" ? answer : await answer;
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
          bytes: typeof outcome === "string" ? resultTextByteLength(outcome) : outcome.length,
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
      const ok = await engine.call("release", this.key, () =>
        freeKey(engine.store, this.key, this.token, this.#takeover),
      );
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

  /**
   * The signal fires and a `lease-lost` event says why, once per lease: a lease already lost, or
   * past its maximum hold, reports nothing more.
   */
  #lose(
    phase: "heartbeat" | "complete" | "release" | "max-hold",
    reason: LeaseLostError | MaxHoldExceededError = new LeaseLostError(this.key),
  ): void {
    if (this.#lostReason !== undefined) return;
    this.#lostReason = reason;
    if (this.#engine.listening)
      this.#engine.emit({ type: "lease-lost", key: this.key, fence: this.fence, phase });
    this.#controller?.abort(reason);
  }

  #end(): void {
    this.#ended = true;
    this.#engine.leaseTimers.cancel(this.#alarm);
    // An earlier attempt of our claim that lands from now on (after a release, a completion past its
    // retention, or an abandoned lease that ran out) would acquire the key for a token nobody holds:
    // release what it acquires. Our own record (this lease's fence) is left as the end left it.
    const stragglers = this.#stragglers;
    if (stragglers !== undefined) {
      this.#stragglers = undefined;
      releaseLateClaims(this.#engine.store, this.key, this.token, stragglers, this.fence);
    }
  }

  /** Sets the alarm for the lease's next event; `now` is the clock as the caller last read it. */
  #arm(now = performance.now()): void {
    const next = Math.min(this.#deadlineAt, this.#nextBeatAt, this.#holdUntil);
    this.#engine.leaseTimers.set(this.#alarm, next, now);
  }

  /**
   * The timer fired: the maximum hold is over (no more renewals), the deadline passed unconfirmed
   * (the lease is lost), or a heartbeat is due.
   */
  tick(): void {
    if (this.#ended) return;
    const now = performance.now();
    if (now >= this.#holdUntil) {
      // The record is left as the last renewal left it: the key frees when that lease ends.
      this.#end();
      this.#lose("max-hold", new MaxHoldExceededError(this.key, this.#engine.maxHoldMs));
      return;
    }
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
        this.#deadlineAt = sentAt - STORE_CLOCK_UNIT_MS + engine.leaseMs;
        this.#arm();
      } else this.#lose("heartbeat");
    } catch {
      // Unknown: keep trying while the last confirmed lease lasts (the deadline decides).
    } finally {
      this.#extending = false;
    }
  }
}
