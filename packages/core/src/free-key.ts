import type { IdempotencyStore } from "./store.js";

/** The shortest lease a store takes: how `freeKey` ends a lease now through `extend`. */
const ENDS_NOW_MS = 1;

/**
 * Frees a key `token` holds, so that a retry runs the work again. A claim that took the key over
 * from an owner whose lease ran out ends its lease instead of releasing it: that owner may still be
 * running, and the claim after a release is not reported as a takeover, while the claim after an
 * ended lease is. So every execution that may overlap a stalled owner's comes with a `takeover`
 * event, however many owners failed in between. The cost: a retry in the next millisecond (a store's
 * clock tolerance, where it adds one) still gets 409.
 */
export function freeKey(
  store: IdempotencyStore,
  key: string,
  token: string,
  takeover: boolean,
): Promise<boolean> {
  return takeover ? store.extend(key, token, ENDS_NOW_MS) : store.release(key, token);
}
