import { createIdempotency, type Idempotency, type IdempotencyInstanceOptions } from "@idemkit/core";
import { deadlineBoundStore } from "./deadline.js";

/** What every handler and middleware of this package takes besides its own options. */
export interface LambdaInstanceOptions extends IdempotencyInstanceOptions {
  /**
   * How long past the invocation's deadline a key's lease may last: room for Lambda to stop the
   * invocation and for the store's clock. Default 1000 ms. See `leaseMs` and the README's "Leases".
   */
  deadlineMarginMs?: number;
  /**
   * The longest lease a claim or heartbeat asks for; the invocation's deadline (plus
   * `deadlineMarginMs`) bounds it. Default: Lambda's longest timeout (15 minutes) plus the margin, so
   * the deadline alone decides, and no heartbeat is sent within an invocation. Shorter, a key frees sooner after an
   * invocation that crashed (out of memory, say); the heartbeat renews it every `heartbeatMs` while the
   * invocation runs, so a handler that blocks the event loop for longer than `leaseMs` may lose its key.
   */
  leaseMs?: number;
}

/** Lambda ends an invocation after at most 15 minutes (its longest configurable timeout). */
export const LONGEST_INVOCATION_MS = 15 * 60 * 1000;
export const DEFAULT_DEADLINE_MARGIN_MS = 1000;
const LONGEST_MARGIN_MS = 60 * 1000;

export interface LambdaInstance {
  idem: Idempotency;
  /** `deadlineMarginMs`, checked. */
  marginMs: number;
}

/**
 * The idemkit instance behind one handler or middleware: the store with its leases bounded by each
 * invocation's deadline (`deadlineBoundStore`), and the default lease Lambda's longest invocation.
 */
export function lambdaInstance(options: LambdaInstanceOptions, where: string): LambdaInstance {
  if (options === null || typeof options !== "object") {
    throw new TypeError(`${where} needs an options object with a store`);
  }
  const { deadlineMarginMs, ...instance } = options;
  const marginMs = deadlineMarginMs ?? DEFAULT_DEADLINE_MARGIN_MS;
  if (!Number.isInteger(marginMs) || marginMs < 0 || marginMs > LONGEST_MARGIN_MS) {
    throw new RangeError(
      `${where}: deadlineMarginMs must be an integer from 0 to ${LONGEST_MARGIN_MS}; got ${String(deadlineMarginMs)}`,
    );
  }
  const { store } = instance;
  // Anything but an object is left to createIdempotency, whose error names what a store must be.
  const bounded = store !== null && typeof store === "object" ? deadlineBoundStore(store, marginMs) : store;
  const leaseMs = instance.leaseMs ?? LONGEST_INVOCATION_MS + marginMs;
  const idem = createIdempotency({
    ...instance,
    store: bounded,
    leaseMs,
    // A lease that lasts until the deadline needs no renewal: the first heartbeat would come after it.
    heartbeatMs: instance.heartbeatMs ?? (instance.leaseMs === undefined ? leaseMs - 1 : undefined),
  });
  return { idem, marginMs };
}
