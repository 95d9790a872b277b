import { afterEach, describe, expect, it, vi } from "vitest";
import type { IdempotencyEvent } from "./events.js";
import { createIdempotency, type Idempotency } from "./idempotency.js";
import { createMemoryStore } from "./memory-store.js";
import type { IdempotencyStore } from "./store.js";

/** The memory store, its claims answered `ms` later; `onClaim` runs as each claim is sent. */
function slowClaims(ms: number, onClaim: () => void = () => {}): IdempotencyStore {
  const inner = createMemoryStore();
  return {
    ...inner,
    async claim(key, claim) {
      onClaim();
      await new Promise((resolve) => setTimeout(resolve, ms));
      return inner.claim(key, claim);
    },
    complete: inner.complete.bind(inner),
  };
}

const durationOf = (events: IdempotencyEvent[], type: IdempotencyEvent["type"]) =>
  (events.find((event) => event.type === type) as { durationMs?: number } | undefined)?.durationMs;

// The engine reads the clock for durations only while someone listens: these pin what a listener sees.
// Bounds leave room for a timer that fires early by the loop's cached clock; a duration counted from
// the wrong point reads a few ms.
describe("events' durations", () => {
  it("a claim's event and the call's finished event count the store's time", async () => {
    const idem = createIdempotency({ store: slowClaims(30) });
    await idem.run({ key: "k" }, () => "done");
    const events: IdempotencyEvent[] = [];
    idem.on((event) => events.push(event));
    await idem.run({ key: "k" }, () => "again");
    expect(durationOf(events, "replayed")).toBeGreaterThanOrEqual(20);
    expect(durationOf(events, "finished")).toBeGreaterThanOrEqual(20);
  });

  it("a listener that subscribes while the claim is in flight gets the claim's whole duration", async () => {
    /** Runs `key` twice (once if `fresh`), a listener subscribing as the last run's claim is sent. */
    const eventsOfLate = async (key: string, fresh: boolean) => {
      const events: IdempotencyEvent[] = [];
      let arm = false;
      const idem: Idempotency = createIdempotency({
        store: slowClaims(30, () => {
          if (!arm) return;
          arm = false;
          idem.on((event) => events.push(event));
        }),
      });
      if (!fresh) await idem.run({ key }, () => "first");
      arm = true;
      await idem.run({ key }, () => "second");
      return events;
    };
    expect(durationOf(await eventsOfLate("replayed", false), "replayed")).toBeGreaterThanOrEqual(20);
    expect(durationOf(await eventsOfLate("claimed", true), "claimed")).toBeGreaterThanOrEqual(20);
  });

  describe("where the input is hashed by Web Crypto (a promise)", () => {
    const builtin = process.getBuiltinModule;
    afterEach(() => {
      process.getBuiltinModule = builtin;
      vi.restoreAllMocks();
      vi.resetModules();
    });

    it("a listener that subscribes while the input is hashed gets the call's whole duration", async () => {
      // A runtime without node:crypto: core then hashes with Web Crypto, here slowed to 40 ms.
      (process as { getBuiltinModule?: unknown }).getBuiltinModule = undefined;
      vi.resetModules();
      const { createIdempotency: create } = await import("./idempotency.js");
      const { createMemoryStore: memory } = await import("./memory-store.js");
      const digest = crypto.subtle.digest.bind(crypto.subtle);
      vi.spyOn(crypto.subtle, "digest").mockImplementation(async (algorithm, data) => {
        await new Promise((resolve) => setTimeout(resolve, 40));
        return digest(algorithm, data);
      });
      const idem = create({ store: memory() });
      const events: IdempotencyEvent[] = [];
      setTimeout(() => idem.on((event) => events.push(event)), 10);
      await idem.run({ key: "k", input: { amount: 1 } }, () => "done");
      expect(crypto.subtle.digest).toHaveBeenCalled();
      expect(durationOf(events, "finished")).toBeGreaterThanOrEqual(30);
    });
  });
});
