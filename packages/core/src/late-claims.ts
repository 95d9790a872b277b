import { freeKey } from "./free-key.js";
import type { ClaimResult, IdempotencyStore } from "./store.js";

/**
 * Frees (`freeKey`), best effort, what any of `attempts` (claims sent with `token`) acquired, when it lands:
 * an acquisition, or an in_progress record carrying `token`, with a fence above `ours` (the fence of
 * the lease this claim gave its caller, whose own record is left alone; `undefined` when there is
 * none; docs/design.md#state-machine, rule 5). One with a lower fence was superseded by that lease
 * itself (the retry, same token, took over the record the late attempt left when its lease ran out):
 * freeing by token would free the caller's own live lease.
 */
export function releaseLateClaims(
  store: IdempotencyStore,
  key: string,
  token: string,
  attempts: readonly Promise<ClaimResult>[],
  ours: number | undefined,
): void {
  for (const pending of attempts) {
    pending.then(
      (late) => {
        const held = late.acquired
          ? late
          : late.record.state === "in_progress" && late.record.token === token
            ? late.record
            : undefined;
        if (held === undefined || (ours !== undefined && held.fence <= ours)) return;
        try {
          freeKey(store, key, token, held.takeover).catch(() => {});
        } catch {
          // a store that throws synchronously: nothing more to do, best effort
        }
      },
      () => {},
    );
  }
}
