import { createHash } from "node:crypto";
import { canonicalJson, composeStoredKey, createIdempotency, type IdempotencyStore } from "@idemkit/core";
import { type Contender, InFlightError, type StoreName, TAKEOVER_LEASE_MS } from "./types.js";

export const RETENTION_MS = 600_000;

/**
 * idemkit's generic `execute()` on `store`, with the options a user would write: `input` is
 * fingerprinted by core, the value goes through the default JSON codec.
 */
export function idemkitContender(
  store: StoreName,
  backend: IdempotencyStore,
  onClose: () => Promise<void> = async () => {},
  /** The store a crashed owner claimed through, when it must differ from `backend` (see dynamodb.ts). */
  abandonVia: IdempotencyStore = backend,
): Contender {
  const idem = createIdempotency({ store: backend, retentionMs: RETENTION_MS });
  return {
    name: "idemkit",
    store,
    async run(key, input, work) {
      try {
        return (await idem.execute({ key, input }, work)).value;
      } catch (error) {
        throw asInFlight(error, key);
      }
    },
    // What a crashed owner leaves behind: a claim with a short lease, never renewed or ended.
    async abandon(key, input) {
      await abandonVia.claim(composeStoredKey("idem:", "run", "", key), {
        token: crypto.randomUUID(),
        fingerprint: await fingerprintOf(input),
        leaseMs: TAKEOVER_LEASE_MS,
        retentionMs: RETENTION_MS,
      });
    },
    close: onClose,
  };
}

/**
 * A conflict as the harness's `InFlightError` (what every contender's conflict is), anything else as
 * it is. By `code`, so it holds for another build's `ConflictError` too (pair-in-process.ts).
 */
export function asInFlight(error: unknown, key: string): unknown {
  return (error as { code?: unknown } | null)?.code === "conflict" ? new InFlightError(key) : error;
}

// The fingerprint core computes for `input` (run.ts: sha256 of canonical JSON).
async function fingerprintOf(input: unknown): Promise<string> {
  return createHash("sha256").update(canonicalJson(input)).digest("hex");
}
