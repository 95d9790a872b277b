import type {
  ClaimRequest,
  ClaimResult,
  CompleteRequest,
  IdempotencyRecord,
  IdempotencyStore,
} from "@idemkit/core";

/** The shape of a store: six methods, each one atomic operation on one key in your backend. */
export function createMyStore(): IdempotencyStore {
  return {
    // One conditional write: if the key is absent, or its lease or retention has ended, write an
    // in-progress record (token, fingerprint, lease end, fence + 1) and return { acquired: true, fence,
    // takeover }; otherwise change nothing and return { acquired: false, record } with the live record.
    async claim(key: string, claim: ClaimRequest): Promise<ClaimResult> {
      throw new Error(`not implemented: claim ${key} for ${claim.leaseMs} ms`);
    },
    // Compare-and-set on the token: in progress, owned by `token`, lease live → store the outcome bytes,
    // start retention, true. Anything else → change nothing, false.
    async complete(key: string, token: string, outcome: CompleteRequest): Promise<boolean> {
      throw new Error(`not implemented: complete ${key} ${token} (${outcome.result.length} bytes)`);
    },
    // Compare-and-set: end the lease at once (the key reads as absent), but keep the record and its fence.
    async release(key: string, token: string): Promise<boolean> {
      throw new Error(`not implemented: release ${key} ${token}`);
    },
    // Compare-and-set: push the lease end `leaseMs` from now, and keep-until by as much.
    async extend(key: string, token: string, leaseMs: number): Promise<boolean> {
      throw new Error(`not implemented: extend ${key} ${token} ${leaseMs}`);
    },
    // The live record, or undefined when absent or expired (whatever a TTL reaper has done yet).
    async get(key: string): Promise<IdempotencyRecord | undefined> {
      throw new Error(`not implemented: get ${key}`);
    },
    // Operator purge: remove the record, fence included; true if a live record was removed.
    async delete(key: string): Promise<boolean> {
      throw new Error(`not implemented: delete ${key}`);
    },
  };
}
