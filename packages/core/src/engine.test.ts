import { afterEach, describe, expect, it, vi } from "vitest";
import { Engine } from "./engine.js";
import { ConflictError, MismatchError, NotReplayableError, StoreUnavailableError } from "./errors.js";
import { EventStream, type IdempotencyEvent } from "./events.js";
import { createIdempotency } from "./idempotency.js";
import { createMemoryStore } from "./memory-store.js";
import type { ClaimRequest, ClaimResult, IdempotencyStore } from "./store.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Records events; `types()` lists the state machine's (store calls and each call's end have tests of their own). */
function recorder() {
  const events: IdempotencyEvent[] = [];
  const decisions = () => events.filter((e) => e.type !== "store-call" && e.type !== "finished");
  return {
    events,
    decisions,
    onEvent: (e: IdempotencyEvent) => events.push(e),
    types: () => decisions().map((e) => e.type),
  };
}

describe("run()", () => {
  it("runs once per key and replays the stored value", async () => {
    const idem = createIdempotency({ store: createMemoryStore() });
    let runs = 0;
    const work = async () => ({ id: ++runs });
    expect(await idem.execute({ key: "k1" }, work)).toEqual({ value: { id: 1 }, replayed: false });
    expect(await idem.execute({ key: "k1" }, work)).toEqual({ value: { id: 1 }, replayed: true });
    expect(runs).toBe(1);
  });

  it("never meets an HTTP request's key on the same instance (a client cannot block a job)", async () => {
    const idem = createIdempotency({ store: createMemoryStore(), scope: "global" });
    const route = idem.wrap(async () => new Response("from http"));
    const request = () =>
      new Request("http://x/orders", {
        method: "POST",
        headers: { "idempotency-key": "msg-1042" },
        body: "{}",
      });
    expect(await (await route(request())).text()).toBe("from http");
    expect(await idem.run({ key: "msg-1042", input: { job: 1 } }, () => "from run")).toBe("from run");
    expect(await (await route(request())).text()).toBe("from http");
    expect(await idem.run({ key: "msg-1042", input: { job: 1 } }, () => "again")).toBe("from run");
  });

  it("throws MismatchError when the key is reused with other input", async () => {
    const idem = createIdempotency({ store: createMemoryStore() });
    await idem.run({ key: "k", input: { amount: 10 } }, () => "ok");
    await expect(idem.run({ key: "k", input: { amount: 11 } }, () => "again")).rejects.toBeInstanceOf(
      MismatchError,
    );
    expect(await idem.run({ key: "k", input: { amount: 10 } }, () => "again")).toBe("ok");
  });

  it("throws ConflictError for a concurrent duplicate, or waits for it when asked", async () => {
    const idem = createIdempotency({ store: createMemoryStore() });
    let runs = 0;
    const slow = async () => {
      runs++;
      await sleep(100);
      return "first";
    };
    const first = idem.run({ key: "k" }, slow);
    await sleep(10);
    const error = await idem.run({ key: "k" }, slow).catch((e) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect(error.code).toBe("conflict");
    const waited = await idem.execute({ key: "k", waitForInFlight: true }, slow);
    expect(waited).toEqual({ value: "first", replayed: true });
    expect(await first).toBe("first");
    expect(runs).toBe(1);
  });

  it("releases the key when the work throws, so a retry runs again", async () => {
    const rec = recorder();
    const idem = createIdempotency({ store: createMemoryStore(), onEvent: rec.onEvent });
    await expect(idem.run({ key: "k" }, () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await idem.run({ key: "k" }, () => "second")).toBe("second");
    expect(rec.types()).toEqual(["claimed", "released", "claimed", "completed"]);
  });

  it("reports a takeover only when the store says it replaced an expired lease, not for a fence > 1", async () => {
    const inner = createMemoryStore();
    let takeover = false;
    const store: IdempotencyStore = {
      ...inner,
      claim: async (key, claim) => {
        const result = await inner.claim(key, claim);
        return result.acquired ? { acquired: true, fence: result.fence + 4, takeover } : result;
      },
    };
    const rec = recorder();
    const idem = createIdempotency({ store, onEvent: rec.onEvent });
    expect(await idem.run({ key: "a" }, ({ fence }) => fence)).toBe(5);
    takeover = true;
    expect(await idem.run({ key: "b" }, ({ fence }) => fence)).toBe(5);
    expect(rec.types()).toEqual(["claimed", "completed", "claimed", "takeover", "completed"]);
    expect(rec.events.find((e) => e.type === "takeover")).toMatchObject({ key: "idem:run:0::b", fence: 5 });
  });

  it("round-trips binary values exactly", async () => {
    const idem = createIdempotency({ store: createMemoryStore() });
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    await idem.run({ key: "bin" }, () => bytes);
    const replayed = await idem.execute<Uint8Array>({ key: "bin" }, () => new Uint8Array(0));
    expect(replayed.replayed).toBe(true);
    expect(Array.from(replayed.value)).toEqual(Array.from(bytes));
  });

  it("never re-runs work whose value cannot be encoded; its replay is NotReplayableError", async () => {
    const idem = createIdempotency({ store: createMemoryStore() });
    let runs = 0;
    const work = () => {
      runs++;
      return 10n as unknown;
    };
    expect(await idem.run({ key: "big" }, work)).toBe(10n);
    await expect(idem.run({ key: "big" }, work)).rejects.toBeInstanceOf(NotReplayableError);
    expect(runs).toBe(1);
  });

  it("replays a custom codec's output even when it looks like an internal marker", async () => {
    const idem = createIdempotency({ store: createMemoryStore() });
    const codec = { encode: () => Uint8Array.of(0xff, 0x00), decode: (b: Uint8Array) => Array.from(b) };
    await idem.run({ key: "c", codec }, () => [0]);
    expect(await idem.execute({ key: "c", codec }, () => [1])).toEqual({
      value: [0xff, 0x00],
      replayed: true,
    });
  });

  it("rejects an empty key", async () => {
    const idem = createIdempotency({ store: createMemoryStore() });
    await expect(idem.run({ key: "" }, () => 1)).rejects.toThrow(TypeError);
  });

  it("keeps scopes apart", async () => {
    const idem = createIdempotency({ store: createMemoryStore() });
    expect(await idem.run({ key: "b:c", scope: "a" }, () => 1)).toBe(1);
    expect(await idem.run({ key: "c", scope: "a:b" }, () => 2)).toBe(2);
  });
});

describe("the engine against store failures", () => {
  function flaky(store: IdempotencyStore, overrides: Partial<IdempotencyStore>): IdempotencyStore {
    return { ...store, ...overrides } as IdempotencyStore;
  }

  it("recognises its own record when a claim's reply was lost (retried with the same token)", async () => {
    const inner = createMemoryStore();
    let calls = 0;
    const store = flaky(inner, {
      claim: async (key, claim) => {
        calls++;
        const result = await inner.claim(key, claim);
        if (calls === 1) throw new Error("connection reset after the write");
        return result;
      },
    });
    const rec = recorder();
    const idem = createIdempotency({ store, onEvent: rec.onEvent });
    expect(await idem.execute({ key: "k" }, ({ fence }) => fence)).toEqual({ value: 1, replayed: false });
    expect(calls).toBe(2);
    expect(rec.types()).toEqual(["store-error", "claimed", "completed"]);
  });

  it("reports the takeover of a claim whose reply was lost, from its own record", async () => {
    const inner = createMemoryStore();
    // A crashed owner's lease on the key ran out without a release.
    const crashed = { token: "crashed", fingerprint: "fp", leaseMs: 10, retentionMs: 60_000 };
    expect(await inner.claim("idem:run:0::k", crashed)).toMatchObject({ acquired: true, fence: 1 });
    await sleep(30);
    let calls = 0;
    const store = flaky(inner, {
      claim: async (key, claim) => {
        calls++;
        const result = await inner.claim(key, claim);
        // The store took the expired lease over, then the reply was lost.
        if (calls === 1) {
          expect(result).toEqual({ acquired: true, fence: 2, takeover: true });
          throw new Error("connection reset after the write");
        }
        return result;
      },
    });
    const rec = recorder();
    const idem = createIdempotency({ store, onEvent: rec.onEvent });
    expect(await idem.execute({ key: "k" }, ({ fence }) => fence)).toEqual({ value: 2, replayed: false });
    expect(calls).toBe(2);
    expect(rec.types()).toEqual(["store-error", "claimed", "takeover", "completed"]);
    expect(rec.events.find((e) => e.type === "takeover")).toMatchObject({ key: "idem:run:0::k", fence: 2 });
  });

  it("fails closed: a failing store never runs the work", async () => {
    const store = flaky(createMemoryStore(), { claim: () => Promise.reject(new Error("ECONNREFUSED")) });
    const idem = createIdempotency({ store });
    let runs = 0;
    const error = await idem.run({ key: "k" }, () => runs++).catch((e) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect(error.operation).toBe("claim");
    expect(runs).toBe(0);
  });

  it("bounds a hanging store by storeTimeoutMs", async () => {
    const store = flaky(createMemoryStore(), { claim: () => new Promise(() => {}) });
    const idem = createIdempotency({ store, storeTimeoutMs: 50 });
    const started = Date.now();
    await expect(idem.run({ key: "k" }, () => 1)).rejects.toBeInstanceOf(StoreUnavailableError);
    // Two attempts of 50 ms each; generous upper bound against a loaded machine.
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("returns the value when storing the outcome fails, and reports it; the key stays claimed", async () => {
    const inner = createMemoryStore();
    const store = flaky(inner, { complete: () => Promise.reject(new Error("write failed")) });
    const rec = recorder();
    const idem = createIdempotency({ store, onEvent: rec.onEvent, leaseMs: 5_000 });
    expect(await idem.run({ key: "k" }, () => "done")).toBe("done");
    expect(rec.types()).toContain("store-error");
    const record = await inner.get("idem:run:0::k");
    expect(record?.state).toBe("in_progress");
  });
});

describe("leases", () => {
  it("the heartbeat keeps a long handler's key from being taken over", async () => {
    const store = createMemoryStore();
    const idem = createIdempotency({ store, leaseMs: 150 });
    let runs = 0;
    const long = async () => {
      runs++;
      await sleep(600);
      return "long";
    };
    const first = idem.run({ key: "k" }, long);
    for (let i = 0; i < 5; i++) {
      await sleep(100);
      await expect(idem.run({ key: "k" }, long)).rejects.toBeInstanceOf(ConflictError);
    }
    expect(await first).toBe("long");
    expect(runs).toBe(1);
  });

  it("a lost lease aborts the handler's signal and never overwrites the new owner", async () => {
    const store = createMemoryStore();
    const rec = recorder();
    const idem = createIdempotency({ store, leaseMs: 150, onEvent: rec.onEvent });
    let aborted = false;
    const first = idem.run({ key: "k" }, async ({ signal }) => {
      signal.addEventListener("abort", () => {
        aborted = true;
      });
      await sleep(300);
      return "stale";
    });
    await sleep(20);
    // An operator purge and a new owner, while the first still runs.
    await store.delete("idem:run:0::k");
    const second = await idem.execute({ key: "k" }, ({ fence }) => `fresh-${fence}`);
    expect(second).toEqual({ value: "fresh-1", replayed: false });
    // Superseded: the first caller gets what a retry would, the new owner's value, never "stale".
    expect(await first).toBe("fresh-1");
    expect(aborted).toBe(true);
    expect(rec.types()).toContain("lease-lost");
    expect(await idem.run({ key: "k" }, () => "third")).toBe("fresh-1");
  });

  it("a superseded owner whose key is still being worked on gets ConflictError, not its own value", async () => {
    const store = createMemoryStore();
    const idem = createIdempotency({ store, leaseMs: 150 });
    let release!: () => void;
    const first = idem.run({ key: "k" }, async () => {
      await sleep(300);
      return "stale";
    });
    await sleep(20);
    await store.delete("idem:run:0::k");
    const second = idem.run(
      { key: "k" },
      () => new Promise<string>((resolve) => (release = () => resolve("fresh"))),
    );
    await expect(first).rejects.toBeInstanceOf(ConflictError);
    release();
    expect(await second).toBe("fresh");
  });

  it("a crashed owner frees the key after the lease, and the takeover gets a higher fence", async () => {
    const store = createMemoryStore();
    const idem = createIdempotency({ store, leaseMs: 100 });
    // A "crash": claim through the store directly and never complete.
    await store.claim("idem:run:0::k", { token: "dead", fingerprint: "", leaseMs: 100, retentionMs: 60_000 });
    await expect(idem.run({ key: "k" }, () => 0)).rejects.toBeInstanceOf(ConflictError);
    await sleep(150);
    const rec = recorder();
    idem.on(rec.onEvent);
    expect(await idem.run({ key: "k" }, ({ fence }) => fence)).toBe(2);
    expect(rec.types()).toEqual(["claimed", "takeover", "completed"]);
    expect(
      await store.complete("idem:run:0::k", "dead", { result: new Uint8Array(1), retentionMs: 1000 }),
    ).toBe(false);
  });

  it("rejects a heartbeat that is not shorter than the lease", () => {
    expect(() => createIdempotency({ store: createMemoryStore(), leaseMs: 100, heartbeatMs: 100 })).toThrow(
      RangeError,
    );
    expect(() => createIdempotency({ store: createMemoryStore(), leaseMs: 0 })).toThrow(RangeError);
  });
});

describe("lease timing against a slow store", () => {
  it("fires the signal when the lease runs out unconfirmed, before anyone can take over", async () => {
    const inner = createMemoryStore();
    let hang = false;
    const store: IdempotencyStore = {
      ...inner,
      claim: inner.claim.bind(inner),
      extend: (...args) => (hang ? new Promise(() => {}) : inner.extend(...args)),
    } as IdempotencyStore;
    const idem = createIdempotency({ store, leaseMs: 300, heartbeatMs: 100, storeTimeoutMs: 5_000 });
    let abortedAt: number | undefined;
    const first = idem.run({ key: "k" }, async ({ signal }) => {
      hang = true; // every renewal from now on hangs, longer than the lease
      signal.addEventListener("abort", () => {
        abortedAt = Date.now();
      });
      await sleep(600);
      return "stale";
    });
    await sleep(350);
    const takeoverAt = Date.now();
    const second = await idem.execute({ key: "k" }, ({ fence }) => fence);
    expect(second).toEqual({ value: 2, replayed: false });
    expect(abortedAt).toBeDefined();
    expect(abortedAt!).toBeLessThanOrEqual(takeoverAt);
    await first;
  });

  it("releases a claim that lands after both attempts timed out, so the key is not blocked for a lease", async () => {
    const inner = createMemoryStore();
    const store: IdempotencyStore = {
      ...inner,
      claim: async (key, claim) => {
        await sleep(150);
        return inner.claim(key, claim);
      },
    } as IdempotencyStore;
    const idem = createIdempotency({ store, storeTimeoutMs: 50, leaseMs: 60_000 });
    await expect(idem.run({ key: "k" }, () => 1)).rejects.toBeInstanceOf(StoreUnavailableError);
    await sleep(400);
    expect(await inner.get("idem:run:0::k")).toBeUndefined();
  });
});

describe("lease timing against a store clock in whole milliseconds", () => {
  afterEach(() => vi.useRealTimers());

  it("the signal fires before a store that floors its clock to the millisecond ends the lease", async () => {
    // Local time and timers are faked, to the fraction of a millisecond; the store's clock is the
    // same time, floored to whole milliseconds (Date.now(), $$NOW): a claim that arrives at 0.9 ms
    // gets a lease ending at 0 + leaseMs, 0.9 ms before sent time + leaseMs.
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
    const inner = createMemoryStore({ now: () => Math.floor(performance.now()) });
    const store: IdempotencyStore = { ...inner, extend: () => new Promise(() => {}) }; // renewals hang
    const engine = new Engine({ store, leaseMs: 1000, heartbeatMs: 500 }, new EventStream());
    vi.advanceTimersByTime(0.9);
    const decision = await engine.claim("k", "fp");
    if (decision.kind !== "acquired") throw new Error(`expected acquired, got ${decision.kind}`);
    const { signal } = decision.lease;
    vi.advanceTimersByTime(999.1); // now 1000: the store's clock reads 1000, the lease has ended there
    expect(
      (await inner.claim("k", { token: "other", fingerprint: "fp", leaseMs: 1000, retentionMs: 1 })).acquired,
    ).toBe(true);
    expect(signal.aborted).toBe(true);
    decision.lease.abandon();
  });
});

describe("leases against wall-clock steps (NTP)", () => {
  afterEach(() => vi.restoreAllMocks());

  it("a step forward does not fake a lost lease", async () => {
    const rec = recorder();
    const idem = createIdempotency({ store: createMemoryStore(), leaseMs: 300, onEvent: rec.onEvent });
    let aborted = false;
    const value = await idem.run({ key: "k" }, async ({ signal }) => {
      signal.addEventListener("abort", () => {
        aborted = true;
      });
      const real = Date.now.bind(Date);
      vi.spyOn(Date, "now").mockImplementation(() => real() + 60_000);
      await sleep(200);
      return "done";
    });
    expect(value).toBe("done");
    expect(aborted).toBe(false);
    expect(rec.types()).not.toContain("lease-lost");
  });

  it("a step back does not stop the heartbeat: a second caller still gets a conflict", async () => {
    const store = createMemoryStore({ now: () => performance.timeOrigin + performance.now() });
    const idem = createIdempotency({ store, leaseMs: 300 });
    const first = idem.run({ key: "k" }, async () => {
      const real = Date.now.bind(Date);
      vi.spyOn(Date, "now").mockImplementation(() => real() - 60_000);
      await sleep(700);
      return "first";
    });
    await sleep(500);
    await expect(idem.run({ key: "k" }, () => "second")).rejects.toBeInstanceOf(ConflictError);
    expect(await first).toBe("first");
  });
});

describe("retention shorter than the lease (retention 60 s, lease 5 min)", () => {
  it("the engine passes its retentionMs to the store as is: the store keeps the record that long past the lease end", async () => {
    const inner = createMemoryStore();
    const requests: ClaimRequest[] = [];
    const store: IdempotencyStore = {
      ...inner,
      claim: (key, claim) => {
        requests.push(claim);
        return inner.claim(key, claim);
      },
    };
    const idem = createIdempotency({ store, leaseMs: 300_000, retentionMs: 60_000 });
    await idem.run({ key: "k" }, () => 1);
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({ leaseMs: 300_000, retentionMs: 60_000 });
  });

  it("a stalled owner's key taken over 30 s after its lease ended gets fence 2 and a takeover event, after the sweep ran", async () => {
    const clock = { t: 1_700_000_000_000 };
    const store = createMemoryStore({ now: () => clock.t });
    const rec = recorder();
    const idem = createIdempotency({ store, leaseMs: 300_000, retentionMs: 60_000, onEvent: rec.onEvent });
    // The first owner stalls for good (its process hangs): no completion, no release.
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    void idem.run({ key: "job" }, () => {
      started();
      return new Promise(() => {});
    });
    await running;
    clock.t += 300_000 + 30_000;
    // The memory store sweeps a few entries per claim: go round the map.
    for (let i = 0; i < 10; i++)
      await store.claim("sweeper", { token: "s", fingerprint: "", leaseMs: 1, retentionMs: 0 });
    expect(await idem.run({ key: "job" }, ({ fence }) => fence)).toBe(2);
    expect(
      rec
        .decisions()
        .filter((e) => e.key === "idem:run:0::job")
        .map((e) => e.type),
    ).toEqual(["claimed", "claimed", "takeover", "completed"]);
  });
});

describe("a claim attempt that lands late (issue 18, item 4)", () => {
  /** A store whose first claim reaches it `lateMs` late; `landed` resolves once it has been applied. */
  function lateFirstClaim(inner: IdempotencyStore, lateMs: number) {
    let claims = 0;
    let landed!: (result: ClaimResult) => void;
    const late = new Promise<ClaimResult>((resolve) => (landed = resolve));
    const store: IdempotencyStore = {
      ...inner,
      claim: async (key, claim) => {
        if (++claims > 1) return inner.claim(key, claim);
        await sleep(lateMs);
        const result = await inner.claim(key, claim);
        landed(result);
        return result;
      },
    };
    // Lets the engine's handler of the late result, and the release it sends, run first.
    const settled = async () => {
      const result = await late;
      await sleep(20);
      return result;
    };
    return { store, settled };
  }

  it("after the retry won and the work threw (key released), the late first attempt is released: the next request runs at once", async () => {
    const inner = createMemoryStore();
    const { store, settled } = lateFirstClaim(inner, 300);
    const idem = createIdempotency({ store, storeTimeoutMs: 200 });
    await expect(idem.run({ key: "k" }, () => Promise.reject(new Error("work failed")))).rejects.toThrow(
      "work failed",
    );
    // The first attempt lands after the release: it acquires the key for the token nobody holds...
    expect(await settled()).toEqual({ acquired: true, fence: 2, takeover: false });
    // ...and is released again, so a retry runs now instead of getting 409 for a whole lease.
    expect(await inner.get("idem:run:0::k")).toBeUndefined();
    expect(await idem.run({ key: "k" }, ({ fence }) => `ran with fence ${fence}`)).toBe("ran with fence 3");
  });

  it("after the retry saw another owner (conflict) that then released, the late first attempt is released", async () => {
    const inner = createMemoryStore();
    const { store, settled } = lateFirstClaim(inner, 300);
    const owner = createIdempotency({ store: inner });
    const idem = createIdempotency({ store, storeTimeoutMs: 200 });
    const ownerRun = owner.run({ key: "k" }, async () => {
      await sleep(250);
      throw new Error("owner failed");
    });
    await sleep(10);
    await expect(idem.run({ key: "k" }, () => "mine")).rejects.toBeInstanceOf(ConflictError);
    await expect(ownerRun).rejects.toThrow("owner failed");
    expect((await settled()).acquired).toBe(true);
    expect(await inner.get("idem:run:0::k")).toBeUndefined();
    expect(await owner.run({ key: "k" }, () => "next")).toBe("next");
  });

  it("a late attempt that finds its own claim's live record leaves it alone, and the completed outcome stands", async () => {
    const inner = createMemoryStore();
    const { store, settled } = lateFirstClaim(inner, 300);
    const idem = createIdempotency({ store, storeTimeoutMs: 200 });
    const value = await idem.run({ key: "k" }, async () => {
      await settled(); // the first attempt lands while this lease is live: it sees its own record
      return "done";
    });
    expect(value).toBe("done");
    await sleep(20);
    expect(await inner.get("idem:run:0::k")).toMatchObject({ state: "completed", fence: 1 });
  });

  it("a late attempt that finds the abandoned lease's own record leaves it claimed (the work may have run)", async () => {
    const inner = createMemoryStore();
    const { store, settled } = lateFirstClaim(inner, 300);
    const engine = new Engine({ store, storeTimeoutMs: 200, leaseMs: 10_000 }, new EventStream());
    const decision = await engine.claim("k", "fp");
    if (decision.kind !== "acquired") throw new Error(`expected acquired, got ${decision.kind}`);
    decision.lease.abandon();
    const late = await settled();
    expect(!late.acquired && late.record).toMatchObject({
      state: "in_progress",
      token: decision.lease.token,
    });
    expect(await inner.get("k")).toMatchObject({
      state: "in_progress",
      fence: 1,
      token: decision.lease.token,
    });
  });

  it("an abandoned lease keeps its record until it runs out; a late attempt that takes it over then is released", async () => {
    const clock = { t: 1_700_000_000_000 };
    const inner = createMemoryStore({ now: () => clock.t });
    const { store, settled } = lateFirstClaim(inner, 300);
    const engine = new Engine({ store, storeTimeoutMs: 200, leaseMs: 10_000 }, new EventStream());
    const decision = await engine.claim("k", "fp");
    if (decision.kind !== "acquired") throw new Error(`expected acquired, got ${decision.kind}`);
    expect(decision.lease.fence).toBe(1);
    decision.lease.abandon(); // the work may have run: the record must stay claimed until its lease ends
    await sleep(50);
    expect(await inner.get("k")).toMatchObject({ state: "in_progress", fence: 1 });
    clock.t += 10_000; // the abandoned lease runs out before the late attempt lands
    expect(await settled()).toEqual({ acquired: true, fence: 2, takeover: true });
    // A takeover is freed by ending its lease, not released (see the next test): a millisecond later
    // the key is free, and the next claim is reported as the takeover it is.
    clock.t += 1;
    expect(await inner.get("k")).toBeUndefined();
    const next = await inner.claim("k", {
      token: "next",
      fingerprint: "fp",
      leaseMs: 1000,
      retentionMs: 1000,
    });
    expect(next).toEqual({ acquired: true, fence: 3, takeover: true });
  });
});

describe("a late reply of a first claim attempt whose lease the retry took over again, same token", () => {
  it("leaves the retry's lease alone: its completion stands (found by the mysql chaos suite, worker SIGSTOP)", async () => {
    // The process is paused after the first attempt reached the store: that attempt acquires fence 1
    // but its reply is read only after the retry, and by then fence 1's lease had run out, so the retry,
    // with the same token, took the key over: fence 2. Freeing the late fence-1 acquisition by token
    // freed fence 2, this caller's own live lease, and the next request ran the work again.
    const clock = { t: 1_700_000_000_000 };
    const inner = createMemoryStore({ now: () => clock.t });
    let claims = 0;
    let deliver!: () => void;
    const replyHeld = new Promise<void>((resolve) => (deliver = resolve));
    const store: IdempotencyStore = {
      ...inner,
      claim: async (key, claim) => {
        if (++claims > 1) return inner.claim(key, claim);
        const result = await inner.claim(key, claim); // in the store at once...
        await replyHeld; // ...its reply read late
        return result;
      },
      // A networked store: a call sent later may be applied first.
      complete: async (key, token, outcome) => {
        await sleep(20);
        return inner.complete(key, token, outcome);
      },
    };
    const rec = recorder();
    const idem = createIdempotency({ store, storeTimeoutMs: 200, leaseMs: 1000, onEvent: rec.onEvent });
    const ran = idem.run({ key: "k" }, async ({ fence }) => {
      deliver(); // the first attempt's reply arrives while the work runs
      await sleep(30);
      return fence;
    });
    await sleep(50);
    clock.t += 1001; // fence 1's lease ends in the store before the retry reaches it
    expect(await ran).toBe(2);
    await sleep(50);
    expect(await inner.get("idem:run:0::k")).toMatchObject({ state: "completed", fence: 2 });
    expect(rec.events.map((e) => e.type)).not.toContain("lease-lost");
  });
});

describe("a takeover that fails (the owner it replaced may still be running)", () => {
  it("ends its lease instead of releasing it: the next owner is reported as a takeover too", async () => {
    const clock = { t: 1_700_000_000_000 };
    const inner = createMemoryStore({ now: () => clock.t });
    const rec = recorder();
    const idem = createIdempotency({ store: inner, onEvent: rec.onEvent });
    // An owner that stalls past its lease (a paused process) and may still be running.
    await inner.claim("idem:run:0::k", {
      token: "stalled",
      fingerprint: "",
      leaseMs: 1000,
      retentionMs: 60_000,
    });
    clock.t += 1000;
    await expect(idem.run({ key: "k" }, () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    clock.t += 1;
    expect(await idem.run({ key: "k" }, ({ fence }) => fence)).toBe(3);
    expect(rec.events.filter((e) => e.type === "takeover")).toMatchObject([{ fence: 2 }, { fence: 3 }]);
  });

  it("a failure of a claim that was no takeover still releases at once", async () => {
    const clock = { t: 1_700_000_000_000 };
    const idem = createIdempotency({ store: createMemoryStore({ now: () => clock.t }) });
    await expect(idem.run({ key: "k" }, () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await idem.run({ key: "k" }, ({ fence }) => fence)).toBe(2);
  });
});
