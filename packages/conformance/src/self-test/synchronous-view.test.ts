import type { ClaimResult, IdempotencyStore, SynchronousCalls } from "@idemkit/core";
import { describe, expect, it } from "vitest";
import { throughSynchronousCalls } from "../synchronous-view.js";
import { createMemoryStore } from "./harness.js";

/** The memory store, declaring synchronous forms that record their calls and answer with `answers`. */
function declaring(answers: { claim: ClaimResult; complete: boolean }, seen: string[]) {
  const store = createMemoryStore() as IdempotencyStore;
  const calls: SynchronousCalls = {
    claim: (key) => {
      seen.push(`claim ${key}`);
      return answers.claim;
    },
    complete: (key) => {
      seen.push(`complete ${key}`);
      return answers.complete;
    },
    claimMethod: store.claim,
    completeMethod: store.complete,
  };
  return Object.defineProperties(store, {
    settlesOnReturn: { value: true, configurable: true },
    synchronousCalls: { value: calls, configurable: true },
  });
}

describe("throughSynchronousCalls", () => {
  it("answers claim and complete by the synchronous forms, in promises, and passes the rest through", async () => {
    const seen: string[] = [];
    const store = declaring({ claim: { acquired: true, fence: 7, takeover: false }, complete: true }, seen);
    const view = throughSynchronousCalls(store);
    const request = { token: "t", fingerprint: "f", leaseMs: 1_000, retentionMs: 1_000 };
    await expect(view.claim("k", request)).resolves.toEqual({ acquired: true, fence: 7, takeover: false });
    await expect(view.complete("k", "t", { result: Uint8Array.of(1), retentionMs: 1 })).resolves.toBe(true);
    expect(seen).toEqual(["claim k", "complete k"]);
    // The rest is the store's own: nothing was written by the forms above.
    await expect(view.get("k")).resolves.toBeUndefined();
  });

  it("turns a synchronous throw into a rejection, as the methods fail", async () => {
    const store = declaring({ claim: { acquired: true, fence: 1, takeover: false }, complete: true }, []);
    Object.defineProperty(store, "synchronousCalls", {
      value: {
        ...store.synchronousCalls,
        claim: () => {
          throw new Error("busy");
        },
      },
    });
    const claim = throughSynchronousCalls(store).claim("k", {
      token: "t",
      fingerprint: "f",
      leaseMs: 1_000,
      retentionMs: 1_000,
    });
    await expect(claim).rejects.toThrow("busy");
  });

  it("refuses a store that does not offer them as core would use them", () => {
    expect(() => throughSynchronousCalls(createMemoryStore())).toThrow(
      "the store offers no synchronousCalls beside settlesOnReturn: true",
    );
    const store = declaring({ claim: { acquired: true, fence: 1, takeover: false }, complete: true }, []);
    Object.defineProperty(store, "settlesOnReturn", { value: false });
    expect(() => throughSynchronousCalls(store)).toThrow("beside settlesOnReturn: true");
    const other = declaring({ claim: { acquired: true, fence: 1, takeover: false }, complete: true }, []);
    Object.defineProperty(other, "synchronousCalls", {
      value: { ...other.synchronousCalls, claimMethod: async () => ({}) },
    });
    expect(() => throughSynchronousCalls(other)).toThrow("do not name its own claim and complete");
  });
});
