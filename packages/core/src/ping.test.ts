import { describe, expect, it } from "vitest";
import { StoreUnavailableError } from "./errors.js";
import { createIdempotency } from "./idempotency.js";
import { createMemoryStore } from "./memory-store.js";
import type { IdempotencyStore } from "./store.js";

/** The memory store's contract methods only: no `ping`, and every `get` recorded. */
function withoutPing(gets: string[]): IdempotencyStore {
  const inner = createMemoryStore();
  return {
    claim: (key, claim) => inner.claim(key, claim),
    complete: (key, token, outcome) => inner.complete(key, token, outcome),
    release: (key, token) => inner.release(key, token),
    extend: (key, token, leaseMs) => inner.extend(key, token, leaseMs),
    get: (key) => {
      gets.push(key);
      return inner.get(key);
    },
    delete: (key) => inner.delete(key),
  };
}

describe("idem.ping()", () => {
  it("resolves through the store's ping, emitting nothing", async () => {
    let pinged = 0;
    const store = { ...withoutPing([]), ping: async () => void pinged++ };
    const events: unknown[] = [];
    const idem = createIdempotency({ store, onEvent: (event) => events.push(event) });
    await expect(idem.ping()).resolves.toBeUndefined();
    expect(pinged).toBe(1);
    expect(events).toEqual([]);
  });

  it("reads a key no request uses on a store without ping", async () => {
    const gets: string[] = [];
    await createIdempotency({ store: withoutPing(gets), keyPrefix: "app:" }).ping();
    expect(gets).toEqual(["app:ping"]);
  });

  it("rejects with StoreUnavailableError (operation ping) when the store fails or does not answer in storeTimeoutMs", async () => {
    const failing = { ...withoutPing([]), ping: () => Promise.reject(new Error("connection refused")) };
    const failed = await createIdempotency({ store: failing })
      .ping()
      .catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(StoreUnavailableError);
    expect(failed).toMatchObject({ operation: "ping", message: expect.stringMatching(/connection refused/) });

    const silent = { ...withoutPing([]), ping: () => new Promise<void>(() => {}) };
    const timedOut = await createIdempotency({ store: silent, storeTimeoutMs: 20 })
      .ping()
      .catch((e: unknown) => e);
    expect(timedOut).toBeInstanceOf(StoreUnavailableError);
    expect((timedOut as Error).message).toMatch(/during ping: timed out after 20 ms/);
  });
});
