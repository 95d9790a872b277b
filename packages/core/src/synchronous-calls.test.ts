import { describe, expect, it } from "vitest";
import { StoreUnavailableError } from "./errors.js";
import type { IdempotencyEvent } from "./events.js";
import { createIdempotency } from "./idempotency.js";
import type {
  ClaimRequest,
  ClaimResult,
  CompleteRequest,
  IdempotencyRecord,
  IdempotencyStore,
  SynchronousCalls,
} from "./store.js";

/**
 * A store of one Map whose calls settle as they return, offering `claim` and `complete` without
 * promises (store.ts, `synchronousCalls`); `calls` records which form each call took.
 */
function synchronousStore(fail: { claim?: () => unknown; complete?: () => unknown } = {}) {
  const records = new Map<string, IdempotencyRecord>();
  const calls: string[] = [];
  let fences = 0;
  const claimNow = (key: string, request: ClaimRequest): ClaimResult => {
    calls.push("claimNow");
    const failed = fail.claim?.();
    if (failed !== undefined) return failed as ClaimResult;
    const live = records.get(key);
    if (live) return { acquired: false, record: live };
    const fence = ++fences;
    const { token, fingerprint, leaseMs } = request;
    records.set(key, {
      state: "in_progress",
      token,
      fingerprint,
      fence,
      leaseExpiresAt: Date.now() + leaseMs,
      takeover: false,
    });
    return { acquired: true, fence, takeover: false };
  };
  const completeNow = (key: string, token: string, outcome: CompleteRequest): boolean => {
    calls.push("completeNow");
    if (fail.complete) return fail.complete() as boolean;
    const record = records.get(key);
    if (record?.state !== "in_progress" || record.token !== token) return false;
    const { fingerprint, fence } = record;
    const expiresAt = Date.now() + outcome.retentionMs;
    records.set(key, { state: "completed", token, fingerprint, fence, result: outcome.result, expiresAt });
    return true;
  };
  const store: IdempotencyStore = {
    async claim(key, request) {
      calls.push("claim");
      return claimNow(key, request);
    },
    async complete(key, token, outcome) {
      calls.push("complete");
      return completeNow(key, token, outcome);
    },
    async release(key, token) {
      const record = records.get(key);
      if (record?.state !== "in_progress" || record.token !== token) return false;
      return records.delete(key);
    },
    async extend() {
      return true;
    },
    async get(key) {
      return records.get(key);
    },
    async delete(key) {
      return records.delete(key);
    },
  };
  const synchronousCalls: SynchronousCalls = {
    claim: claimNow,
    complete: completeNow,
    claimMethod: store.claim,
    completeMethod: store.complete,
  };
  Object.defineProperties(store, {
    settlesOnReturn: { value: true, writable: true, configurable: true },
    synchronousCalls: { value: synchronousCalls, writable: true, configurable: true },
  });
  return { store, calls };
}

const key = () => crypto.randomUUID();

/** An instance on `store` and every event it emits, in order. */
function listened(store: IdempotencyStore) {
  const idem = createIdempotency({ store });
  const events: IdempotencyEvent[] = [];
  idem.on((event) => events.push(event));
  return { idem, events };
}

describe("a store's calls without promises (synchronousCalls)", () => {
  it("are what a run calls: a new key and its replay", async () => {
    const { store, calls } = synchronousStore();
    const idem = createIdempotency({ store });
    const k = key();
    expect(await idem.execute({ key: k, input: 1 }, () => ({ n: 1 }))).toEqual({
      value: { n: 1 },
      replayed: false,
    });
    expect(calls).toEqual(["claimNow", "completeNow"]);
    calls.length = 0;
    expect(await idem.execute({ key: k, input: 1 }, () => ({ n: 2 }))).toEqual({
      value: { n: 1 },
      replayed: true,
    });
    expect(calls).toEqual(["claimNow"]);
  });

  it("are reported as the methods' calls are (store-call events)", async () => {
    const { store } = synchronousStore();
    const { idem, events } = listened(store);
    await idem.run({ key: key() }, () => "done");
    const storeCalls = events.filter((event) => event.type === "store-call");
    expect(storeCalls.map((event) => (event as { operation: string }).operation)).toEqual([
      "claim",
      "complete",
    ]);
  });

  it.each([
    [
      "a Proxy that wraps claim",
      (store: IdempotencyStore, seen: string[]) =>
        new Proxy(store, {
          get: (target, name, receiver) =>
            name === "claim"
              ? (...args: Parameters<IdempotencyStore["claim"]>) => {
                  seen.push("wrapped claim");
                  return target.claim(...args);
                }
              : Reflect.get(target, name, receiver),
        }),
    ],
    [
      "an assignment to claim",
      (store: IdempotencyStore, seen: string[]) => {
        const own = store.claim.bind(store);
        (store as { claim: IdempotencyStore["claim"] }).claim = (...args) => {
          seen.push("wrapped claim");
          return own(...args);
        };
        return store;
      },
    ],
    [
      "an object made from it with a claim of its own",
      (store: IdempotencyStore, seen: string[]) =>
        Object.assign(Object.create(store) as IdempotencyStore, {
          claim: (...args: Parameters<IdempotencyStore["claim"]>) => {
            seen.push("wrapped claim");
            return store.claim(...args);
          },
        }),
    ],
  ])("are not used in place of a method a wrapper replaced: %s", async (_, wrap) => {
    const { store, calls } = synchronousStore();
    const idem = createIdempotency({ store: wrap(store, calls) });
    await idem.run({ key: key() }, () => "done");
    // The replaced claim is called; complete, not replaced, still goes without a promise.
    expect(calls).toEqual(["wrapped claim", "claim", "claimNow", "completeNow"]);
  });

  it("are not carried by a copy (`{ ...store, claim }`): they are not enumerable", async () => {
    const { store, calls } = synchronousStore();
    expect(Object.keys(store)).not.toContain("synchronousCalls");
    const idem = createIdempotency({ store: { ...store, settlesOnReturn: true } });
    await idem.run({ key: key() }, () => "done");
    expect(calls).toEqual(["claim", "claimNow", "complete", "completeNow"]);
  });

  it("are not used when a wrapper hides settlesOnReturn, and then need not be whole", async () => {
    const { store, calls } = synchronousStore();
    (store as { synchronousCalls: unknown }).synchronousCalls = { claim: "not a function" };
    const hidden = new Proxy(store, {
      get: (target, name, receiver) =>
        name === "settlesOnReturn" ? undefined : Reflect.get(target, name, receiver),
    });
    const idem = createIdempotency({ store: hidden });
    await idem.run({ key: key() }, () => "done");
    expect(calls).toEqual(["claim", "claimNow", "complete", "completeNow"]);
  });

  it.each([
    [null, "got null"],
    [{ claim() {}, complete() {} }, "without claimMethod, completeMethod"],
    ["calls", 'got "calls"'],
  ])("when not whole beside settlesOnReturn, are refused with the options: %j", (calls, message) => {
    const { store } = synchronousStore();
    (store as { synchronousCalls: unknown }).synchronousCalls = calls;
    expect(() => createIdempotency({ store })).toThrow(TypeError);
    expect(() => createIdempotency({ store })).toThrow(
      /store\.synchronousCalls must hold the functions claim, complete, claimMethod, completeMethod/,
    );
    expect(() => createIdempotency({ store })).toThrow(message);
  });

  it("a claim that throws is tried once more, as a rejected one is; twice, the run fails as a store error", async () => {
    let throws = 1;
    const { store, calls } = synchronousStore({
      claim: () => {
        if (throws-- > 0) throw new Error("busy");
        return undefined;
      },
    });
    const { idem, events } = listened(store);
    await expect(idem.execute({ key: key() }, () => "done")).resolves.toEqual({
      value: "done",
      replayed: false,
    });
    expect(calls.filter((call) => call === "claimNow")).toHaveLength(2);
    expect(events.filter((event) => event.type === "store-error")).toHaveLength(1);

    throws = 2;
    let ran = false;
    await expect(
      idem.run({ key: key() }, () => {
        ran = true;
      }),
    ).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(ran).toBe(false);
  });

  it("a complete that throws leaves the run's value answered and reports a store error", async () => {
    const { store } = synchronousStore({
      complete: () => {
        throw new Error("disk full");
      },
    });
    const { idem, events } = listened(store);
    await expect(idem.execute({ key: key() }, () => "done")).resolves.toEqual({
      value: "done",
      replayed: false,
    });
    const errors = events.filter((event) => event.type === "store-error");
    expect(errors.map((event) => (event as { operation: string }).operation)).toEqual(["complete"]);
  });

  it("a promise returned all the same fails the call, and its rejection is not left unhandled", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      const { store } = synchronousStore({ claim: () => Promise.reject(new Error("late")) });
      const { idem, events } = listened(store);
      const failed = idem.run({ key: key() }, () => "done");
      await expect(failed).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(failed).rejects.toThrow(/a synchronous call returned a promise/);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(unhandled).toEqual([]);
      expect(events.filter((event) => event.type === "store-error")).toHaveLength(2);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });
});

describe("a store's calls without promises, when they are not used or misbehave", () => {
  it("a listener hears no event before run() has returned, as with any other store", async () => {
    const { store } = synchronousStore();
    const idem = createIdempotency({ store });
    let returned = false;
    const heard: [string, boolean][] = [];
    idem.on((event) => heard.push([event.type, returned]));
    const running = idem.run({ key: key() }, () => "done");
    returned = true;
    await running;
    expect(heard.map(([type]) => type)).toEqual([
      "store-call",
      "claimed",
      "store-call",
      "completed",
      "finished",
    ]);
    expect(heard.filter(([, after]) => !after)).toEqual([]);
  });

  it("are not used when a wrapper hides settlesOnReturn, even when whole", async () => {
    const { store, calls } = synchronousStore();
    const hidden = new Proxy(store, {
      get: (target, name, receiver) =>
        name === "settlesOnReturn" ? undefined : Reflect.get(target, name, receiver),
    });
    await createIdempotency({ store: hidden }).run({ key: key() }, () => "done");
    expect(calls).toEqual(["claim", "claimNow", "complete", "completeNow"]);
  });

  it("are not used in place of a complete a wrapper replaced", async () => {
    const { store, calls } = synchronousStore();
    const own = store.complete.bind(store);
    (store as { complete: IdempotencyStore["complete"] }).complete = (...args) => {
      calls.push("wrapped complete");
      return own(...args);
    };
    await createIdempotency({ store }).run({ key: key() }, () => "done");
    expect(calls).toEqual(["claimNow", "wrapped complete", "complete", "completeNow"]);
  });

  it("an async function given as one is refused with the options", () => {
    const { store } = synchronousStore();
    const calls = store.synchronousCalls as SynchronousCalls;
    (store as { synchronousCalls: unknown }).synchronousCalls = { ...calls, claim: store.claim };
    expect(() => createIdempotency({ store })).toThrow(
      "store.synchronousCalls.claim must return its answer, not a promise; got an async function",
    );
  });

  it("a claim that lands through a promise returned against the contract is released", async () => {
    const { store } = synchronousStore();
    const calls = store.synchronousCalls as SynchronousCalls;
    (store as { synchronousCalls: unknown }).synchronousCalls = {
      ...calls,
      claim: (k: string, request: ClaimRequest) => Promise.resolve(calls.claim(k, request)),
    };
    const k = key();
    await expect(createIdempotency({ store }).run({ key: k }, () => "done")).rejects.toBeInstanceOf(
      StoreUnavailableError,
    );
    await new Promise((resolve) => setTimeout(resolve, 10));
    // Released: the key is free, and the next run of it runs its work.
    (store as { synchronousCalls: unknown }).synchronousCalls = calls;
    expect(await createIdempotency({ store }).run({ key: k }, () => "again")).toBe("again");
  });

  it("a then that throws when read fails the call as a store error", async () => {
    const { store } = synchronousStore({
      claim: () =>
        // biome-ignore lint/suspicious/noThenProperty: a thenable whose `then` throws when read is the case
        Object.defineProperty({}, "then", {
          get() {
            throw new Error("then getter");
          },
        }),
    });
    const { idem, events } = listened(store);
    await expect(idem.run({ key: key() }, () => "done")).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(events.filter((event) => event.type === "store-error")).toHaveLength(2);
  });
});
