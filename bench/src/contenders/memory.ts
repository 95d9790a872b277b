import { createHash } from "node:crypto";
import { createMemoryStore } from "@idemkit/core";
import { idemkitContender } from "./idemkit.js";
import { type Contender, InFlightError, TAKEOVER_LEASE_MS } from "./types.js";

/** The hand-written baseline on a `Map`: claim if absent or the lease ended, complete by overwrite. */
export function memoryBaseline(): Contender {
  interface Entry {
    done: boolean;
    fingerprint: string;
    result?: string;
    deadline: number;
  }
  const map = new Map<string, Entry>();
  const retentionMs = 600_000;
  return {
    name: "baseline",
    store: "memory",
    async run(key, input, work) {
      const fingerprint = sha256(input);
      const now = Date.now();
      const current = map.get(key);
      if (current && current.deadline > now) {
        if (current.fingerprint !== fingerprint) throw new Error("fingerprint mismatch");
        if (!current.done) throw new InFlightError(key);
        return JSON.parse(current.result!);
      }
      map.set(key, { done: false, fingerprint, deadline: now + 30_000 });
      let value: unknown;
      try {
        value = await work();
      } catch (error) {
        map.delete(key);
        throw error;
      }
      map.set(key, {
        done: true,
        fingerprint,
        result: JSON.stringify(value),
        deadline: Date.now() + retentionMs,
      });
      return value;
    },
    async abandon(key, input) {
      map.set(key, { done: false, fingerprint: sha256(input), deadline: Date.now() + TAKEOVER_LEASE_MS });
    },
    async close() {
      map.clear();
    },
  };
}

export function memoryIdemkit(): Contender {
  const store = createMemoryStore();
  return idemkitContender("memory", store);
}

/** What a hand-written baseline hashes: the input as JSON (the caller's own shape, no canonicalisation). */
export function sha256(input: unknown): string {
  return createHash("sha256").update(JSON.stringify(input)).digest("hex");
}
