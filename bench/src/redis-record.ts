/**
 * The Redis store's record (`packages/redis/src/scripts.ts`) as the bench's probes write and read it by
 * hand, for measuring sticks that bypass the claim script. Not a store: nothing here judges a deadline.
 */

/** The record's header: state, takeover, fence, deadline, keep-until, claim time, token and fingerprint lengths. */
export const RECORD_HEADER = /^([pca])([01])(\d+):(-?\d+):(\d+):(\d+):(\d+):(\d+):/;

/**
 * An in-progress record as the claim script writes it, its deadlines on this machine's clock (Redis's
 * when both run here): the completion script then does all of its work, its `SET` included.
 */
export function freshRecord(
  token: string,
  fingerprint: string,
  leaseMs: number,
  retentionMs: number,
): string {
  const now = Date.now();
  const lease = now + leaseMs;
  return `p01:${lease}:${lease + retentionMs}:${now}:${token.length}:${fingerprint.length}:${token}${fingerprint}`;
}
