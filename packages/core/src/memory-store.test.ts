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

describe("memory store: outcome bytes are its own (issue 13, item 8)", () => {
  it("keeps a copy of the bytes given to complete: the caller changing its Buffer afterwards changes nothing", async () => {
    const store = createMemoryStore();
    await store.claim("k", claimOf("t", MINUTE, MINUTE));
    // A Buffer from Node's pool: its own slice() is a view of the same memory.
    const mine = Buffer.from("stored outcome");
    expect(await store.complete("k", "t", { result: mine, retentionMs: MINUTE })).toBe(true);
    mine.fill(0x21);
    const read = await store.get("k");
    expect(read?.state === "completed" && new TextDecoder().decode(read.result)).toBe("stored outcome");
    expect(read?.state === "completed" && read.result.constructor).toBe(Uint8Array);
  });

  it("hands out copies: a caller changing what get or claim returned changes nothing", async () => {
    const store = createMemoryStore();
    await store.claim("k", claimOf("t", MINUTE, MINUTE));
    await store.complete("k", "t", { result: new TextEncoder().encode("abc"), retentionMs: MINUTE });
    const got = await store.get("k");
    if (got?.state === "completed") got.result.fill(0);
    const claimed = await store.claim("k", claimOf("u", MINUTE, MINUTE));
    if (!claimed.acquired && claimed.record.state === "completed") claimed.record.result.fill(0);
    const again = await store.get("k");
    expect(again?.state === "completed" && new TextDecoder().decode(again.result)).toBe("abc");
  });
});

describe("memory store: bounded in size by maxEntries (issue 13, item 8)", () => {
  const clocked = (maxEntries: number) => {
    const clock = { t: 1_700_000_000_000 };
    return { clock, store: createMemoryStore({ now: () => clock.t, maxEntries }) };
  };
  const completeKey = async (store: ReturnType<typeof createMemoryStore>, key: string) => {
    await store.claim(key, claimOf(`t-${key}`, MINUTE, 10 * MINUTE));
    await store.complete(key, `t-${key}`, { result: new Uint8Array([1]), retentionMs: 10 * MINUTE });
  };

  it("holds at most maxEntries; the oldest completed record goes first when nothing reads as absent", async () => {
    const { store } = clocked(3);
    for (const key of ["a", "b", "c", "d"]) await completeKey(store, key);
    expect(store.size()).toBe(3);
    expect(await store.get("a")).toBeUndefined();
    for (const key of ["b", "c", "d"]) expect(await store.get(key)).toMatchObject({ state: "completed" });
  });

  it("evicts a record that reads as absent (expired or released) before any completed one, and one past keep-until before both", async () => {
    const { store, clock } = clocked(3);
    await completeKey(store, "done");
    await store.claim("expired", claimOf("e", 1_000, 10 * MINUTE));
    await store.claim("released", claimOf("r", MINUTE, 10 * MINUTE));
    await store.release("released", "r");
    clock.t += 2_000; // "expired"'s lease is over; kept for its fence
    await store.claim("new1", claimOf("n1", MINUTE, MINUTE));
    expect(await store.get("done")).toMatchObject({ state: "completed" });
    // The expired lease went (the oldest of the two that read as absent): its fence with it.
    expect(await store.claim("expired", claimOf("x", MINUTE, MINUTE))).toMatchObject({ fence: 1 });
    expect(store.size()).toBe(3); // the claim of "expired" made room by evicting "released"
    expect(await store.get("done")).toMatchObject({ state: "completed" });
  });

  it("never evicts a live in-progress record: a claim of a new key fails while every record is one; known keys still answer", async () => {
    const { store, clock } = clocked(2);
    await store.claim("a", claimOf("ta", MINUTE, MINUTE));
    await store.claim("b", claimOf("tb", MINUTE, MINUTE));
    await expect(store.claim("c", claimOf("tc", MINUTE, MINUTE))).rejects.toThrow(
      /holds maxEntries \(2\) records and every one is a live claim in progress/,
    );
    expect(store.size()).toBe(2);
    expect(await store.claim("a", claimOf("other", MINUTE, MINUTE))).toMatchObject({
      acquired: false,
      record: { token: "ta" },
    });
    expect(await store.extend("b", "tb", MINUTE)).toBe(true);
    // Once one completes, the next new key evicts it, never the live one.
    await store.complete("a", "ta", { result: new Uint8Array(0), retentionMs: MINUTE });
    expect(await store.claim("c", claimOf("tc", MINUTE, MINUTE))).toMatchObject({ acquired: true });
    expect(await store.get("b")).toMatchObject({ state: "in_progress", token: "tb" });
    expect(await store.get("a")).toBeUndefined();
    clock.t += 2 * MINUTE; // every lease over: they read as absent and may go
    expect(await store.claim("d", claimOf("td", MINUTE, MINUTE))).toMatchObject({ acquired: true });
    expect(store.size()).toBeLessThanOrEqual(2);
  });

  it("is bounded by default: 100,000 records", async () => {
    const store = createMemoryStore();
    const done = { result: new Uint8Array(0), retentionMs: MINUTE };
    for (let i = 0; i <= 100_000; i++) {
      await store.claim(`k${i}`, claimOf("t", MINUTE, MINUTE));
      await store.complete(`k${i}`, "t", done);
    }
    expect(store.size()).toBe(100_000);
    expect(await store.get("k0")).toBeUndefined();
    expect(await store.get("k100000")).toMatchObject({ state: "completed" });
  });

  it("through core: a store full of live claims answers a new key 503 with a store-error; known keys as usual", async () => {
    const { createIdempotency } = await import("./idempotency.js");
    const store = createMemoryStore({ maxEntries: 1 });
    const events: string[] = [];
    const idem = createIdempotency({ store, scope: "global", onEvent: (e) => events.push(e.type) });
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const route = idem.wrap(async () => {
      await held;
      return new Response("ok", { status: 201 });
    });
    const post = (key: string) =>
      route(new Request("http://x/o", { method: "POST", headers: { "idempotency-key": key } }));
    const first = post("one");
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect((await post("two")).status).toBe(503);
    expect(events).toContain("store-error");
    expect((await post("one")).status).toBe(409);
    release();
    expect((await first).status).toBe(201);
    expect((await post("two")).status).toBe(201); // "one", completed, made room
  });
});

describe("memory store: options and durations are checked (issue 13, item 1)", () => {
  it.each([
    [{ maxEntries: 0 }, RangeError, /maxEntries must be an integer from 1 to 16777216; got 0/],
    [{ maxEntries: 2 ** 24 + 1 }, RangeError, /maxEntries must be an integer from 1 to 16777216/],
    [{ maxEntries: 1.5 }, RangeError, /maxEntries must be an integer/],
    [{ maxEntries: Number.POSITIVE_INFINITY }, RangeError, /maxEntries .* got Infinity/],
    [{ now: 5 }, TypeError, /now must be a function; got 5/],
    [
      { maxentries: 10 },
      TypeError,
      /createMemoryStore: unknown option "maxentries" \(known: maxEntries, now\)/,
    ],
  ])("%o is refused with a %o naming it", (options, type, message) => {
    expect(() => createMemoryStore(options as never)).toThrow(type);
    expect(() => createMemoryStore(options as never)).toThrow(message);
  });

  it("every call checks its durations: past 4e15 ms, or not a number, is a RangeError; nothing is written", async () => {
    const store = createMemoryStore();
    await expect(store.claim("k", claimOf("t", MINUTE, 1e16))).rejects.toThrow(
      "idemkit memory store: claim: retentionMs must be a number of milliseconds from 0 up to 4000000000000000",
    );
    await expect(store.claim("k", claimOf("t", 0, MINUTE))).rejects.toThrow(/claim: leaseMs .* above 0/);
    await expect(store.claim("k", claimOf("t", Number.NaN, MINUTE))).rejects.toThrow(/got NaN/);
    expect(store.size()).toBe(0);
    await store.claim("k", claimOf("t", MINUTE, 4e15));
    await expect(store.extend("k", "t", 1e16)).rejects.toThrow(/extend: leaseMs/);
    await expect(store.complete("k", "t", { result: new Uint8Array(0), retentionMs: -1 })).rejects.toThrow(
      /complete: retentionMs/,
    );
    expect(await store.complete("k", "t", { result: new Uint8Array(0), retentionMs: 4e15 })).toBe(true);
  });
});
