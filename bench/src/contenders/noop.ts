import type { CompletedRecord, IdempotencyStore } from "@idemkit/core";
import type { Contender } from "./types.js";

/**
 * A store that answers every call at once: every claim acquires, every completion is stored. With
 * `replays`, a completed key's claim answers with its record (a copy of its bytes, as a store's read
 * is), so replays measure the engine's replay path.
 */
export function answersAtOnce(replays: boolean): IdempotencyStore {
  const completed = new Map<string, CompletedRecord>();
  const fingerprints = new Map<string, string>();
  return {
    claim: async (key, { fingerprint }) => {
      const record = completed.get(key);
      if (record !== undefined)
        return { acquired: false, record: { ...record, result: record.result.slice() } };
      if (replays) fingerprints.set(key, fingerprint);
      return { acquired: true, fence: 1, takeover: false };
    },
    complete: async (key, token, { result, retentionMs }) => {
      const fingerprint = fingerprints.get(key);
      if (fingerprint !== undefined) {
        const expiresAt = Date.now() + retentionMs;
        completed.set(key, {
          state: "completed",
          token,
          fingerprint,
          fence: 1,
          result: result.slice(),
          expiresAt,
        });
      }
      return true;
    },
    release: async () => true,
    extend: async () => true,
    get: async () => undefined,
    delete: async () => false,
  };
}

/** The noop store's baseline: the work, called directly (what the engine's own cost is measured against). */
export function noopBaseline(): Contender {
  return { name: "baseline", store: "memory", run: (_key, _input, work) => work(), close: async () => {} };
}
