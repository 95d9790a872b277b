import { afterEach, describe, expect, it, vi } from "vitest";
import { createMemoryStore } from "./memory-store.js";

const MINUTE = 60_000;
const claimOf = (token: string, leaseMs: number, retentionMs: number) => ({
  token,
  fingerprint: "fp",
  leaseMs,
  retentionMs,
});

/** The store sweeps a few entries per claim: claims of a key of its own take it round the whole map. */
async function sweep(store: ReturnType<typeof createMemoryStore>): Promise<void> {
  for (let i = 0, n = store.size(); i <= n; i++) await store.claim("sweeper", claimOf("s", 1, 0));
}

describe("memory store: retention shorter than the lease (retention 60 s, lease 5 min)", () => {
  it("keeps a stalled owner's record 60 s past its lease end through the sweep: a takeover then gets fence 2", async () => {
    const clock = { t: 1_700_000_000_000 };
    const store = createMemoryStore({ now: () => clock.t });
    expect(await store.claim("k", claimOf("stalled", 5 * MINUTE, MINUTE))).toEqual({
      acquired: true,
      fence: 1,
      takeover: false,
    });
    clock.t += 5 * MINUTE + MINUTE - 1; // 1 ms before keep-until
    await sweep(store);
    expect(await store.get("k")).toBeUndefined();
    expect(await store.claim("k", claimOf("next", 5 * MINUTE, MINUTE))).toEqual({
      acquired: true,
      fence: 2,
      takeover: true,
    });
  });

  it("extend moves keep-until with the lease end: still kept 60 s past the extended lease", async () => {
    const clock = { t: 1_700_000_000_000 };
    const store = createMemoryStore({ now: () => clock.t });
    await store.claim("k", claimOf("stalled", 5 * MINUTE, MINUTE));
    clock.t += 4 * MINUTE;
    expect(await store.extend("k", "stalled", 5 * MINUTE)).toBe(true); // lease now ends at 9 min
    clock.t += 5 * MINUTE + MINUTE - 1;
    await sweep(store);
    expect(await store.claim("k", claimOf("next", 5 * MINUTE, MINUTE))).toEqual({
      acquired: true,
      fence: 2,
      takeover: true,
    });
  });

  it("forgets the record once keep-until has passed (the sweep bounds the map)", async () => {
    const clock = { t: 1_700_000_000_000 };
    const store = createMemoryStore({ now: () => clock.t });
    await store.claim("k", claimOf("stalled", 5 * MINUTE, MINUTE));
    clock.t += 6 * MINUTE;
    await sweep(store);
    expect(store.size()).toBe(1); // the sweeper's own entry
    expect(await store.claim("k", claimOf("next", 5 * MINUTE, MINUTE))).toEqual({
      acquired: true,
      fence: 1,
      takeover: false,
    });
  });
});

describe("memory store: the default clock", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("is monotonic: a wall-clock step forward larger than the lease ends neither the lease nor a retention", async () => {
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() });
    const store = createMemoryStore();
    expect((await store.claim("leased", claimOf("owner", 1000, MINUTE))).acquired).toBe(true);
    await store.claim("done", claimOf("done", 1000, MINUTE));
    expect(await store.complete("done", "done", { result: Uint8Array.of(1), retentionMs: 1000 })).toBe(true);
    vi.setSystemTime(Date.now() + 10 * MINUTE); // NTP steps the wall clock 10 minutes forward
    // The owner still holds its lease (core's monotonic timer says so too): no takeover.
    const other = await store.claim("leased", claimOf("other", 1000, MINUTE));
    expect(other.acquired).toBe(false);
    expect(!other.acquired && other.record.token).toBe("owner");
    expect(await store.extend("leased", "owner", 1000)).toBe(true);
    expect((await store.get("done"))?.state).toBe("completed");
  });

  it("reports deadlines in milliseconds since the epoch", async () => {
    const store = createMemoryStore();
    await store.claim("k", claimOf("t", 60_000, MINUTE));
    const record = await store.get("k");
    const deadline = record?.state === "in_progress" ? record.leaseExpiresAt : 0;
    expect(Math.abs(deadline - (Date.now() + 60_000))).toBeLessThan(1000);
  });
});
