import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createIdempotency, StoreUnavailableError } from "@idemkit/core";
import { afterAll, describe, expect, it, vi } from "vitest";
import { createSqliteStore } from "./index.js";

const dir = mkdtempSync(join(tmpdir(), "idemkit-sqlite-settles-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PENDING = Symbol("pending");

/**
 * Whether `promise` had settled when it was handed over: a settled promise's reaction is queued before
 * the marker's, so it wins the race; a pending one loses it. A rejection counts as settled.
 */
async function settledAtOnce(promise: Promise<unknown>): Promise<boolean> {
  const winner = await Promise.race([promise, Promise.resolve(PENDING)]).catch(() => "rejected");
  return winner !== PENDING;
}

describe("sqlite store: every call has settled when it returns (settlesOnReturn)", () => {
  it("declares it, and it holds for every method, answered or failed", async () => {
    const store = createSqliteStore({ database: join(dir, "settles.db") });
    expect(store.settlesOnReturn).toBe(true);
    const key = randomUUID();
    const token = randomUUID();
    const claim = { token, fingerprint: "fp", leaseMs: 60_000, retentionMs: 60_000 };
    const calls: [string, () => Promise<unknown>][] = [
      ["claim", () => store.claim(key, claim)],
      ["claim of a live key", () => store.claim(key, { ...claim, token: randomUUID() })],
      ["extend", () => store.extend(key, token, 60_000)],
      ["get", () => store.get(key)],
      ["complete", () => store.complete(key, token, { result: new Uint8Array([1]), retentionMs: 60_000 })],
      ["release", () => store.release(key, token)],
      ["delete", () => store.delete(key)],
      ["list", () => store.list()],
      ["ping", () => store.ping()],
      ["purgeExpired", () => store.purgeExpired()],
      ["a bad argument", () => store.claim(key, { ...claim, leaseMs: -1 })],
    ];
    const late: string[] = [];
    for (const [name, call] of calls) if (!(await settledAtOnce(call()))) late.push(name);
    expect(late).toEqual([]);
    await store.close();
    expect(await settledAtOnce(store.get(key))).toBe(true); // a closed database fails at once too
  });

  it("is not declared by a copy, whose methods may not settle so: core times the copy's calls", async () => {
    const store = createSqliteStore({ database: join(dir, "copy.db") });
    const hung = { ...store, claim: () => new Promise<never>(() => {}) };
    expect(hung.settlesOnReturn).toBeUndefined();
    const idem = createIdempotency({ store: hung, storeTimeoutMs: 50 });
    try {
      await expect(idem.run({ key: randomUUID() }, () => "done")).rejects.toBeInstanceOf(
        StoreUnavailableError,
      );
    } finally {
      await store.close();
    }
  });

  it("can be hidden or changed by a wrapper (a Proxy, an assignment)", async () => {
    const store = createSqliteStore({ database: join(dir, "hidden.db") });
    const hidden = new Proxy(store, {
      get: (target, name, receiver) =>
        name === "settlesOnReturn" ? undefined : Reflect.get(target, name, receiver),
    });
    expect(hidden.settlesOnReturn).toBeUndefined();
    expect(() => createIdempotency({ store: hidden })).not.toThrow();
    (store as { settlesOnReturn?: boolean }).settlesOnReturn = false;
    expect(store.settlesOnReturn).toBe(false);
    await store.close();
  });

  it("so core sets no timer on its calls: a run of a new key sets only its lease's", async () => {
    const store = createSqliteStore({ database: join(dir, "timers.db") });
    const idem = createIdempotency({ store });
    // A replaced setTimeout is seen by core as a test's fake clock: each bounded call would then get
    // a timer of its own (as a store without the declaration does: 3 in all).
    const spy = vi.spyOn(globalThis, "setTimeout");
    try {
      await idem.run({ key: randomUUID(), input: { a: 1 } }, () => "done");
      expect(spy.mock.calls.length).toBe(1);
    } finally {
      spy.mockRestore();
      await store.close();
    }
  });
});

describe("sqlite store: claim and complete without promises (synchronousCalls)", () => {
  it("offers them, not enumerable, answering as the methods they stand for", async () => {
    const store = createSqliteStore({ database: join(dir, "synchronous.db") });
    try {
      const calls = store.synchronousCalls;
      expect(calls?.claimMethod).toBe(store.claim);
      expect(calls?.completeMethod).toBe(store.complete);
      expect(Object.keys(store)).not.toContain("synchronousCalls");
      const key = randomUUID();
      const owner = { token: randomUUID(), fingerprint: "fp", leaseMs: 60_000, retentionMs: 60_000 };
      expect(calls?.claim(key, owner)).toEqual({ acquired: true, fence: 1, takeover: false });
      const other = { ...owner, token: randomUUID() };
      expect(calls?.claim(key, other)).toMatchObject({ acquired: false, record: { token: owner.token } });
      const outcome = { result: Uint8Array.of(1, 2), retentionMs: 60_000 };
      expect(calls?.complete(key, other.token, outcome)).toBe(false);
      expect(calls?.complete(key, owner.token, outcome)).toBe(true);
      expect(await store.get(key)).toMatchObject({
        state: "completed",
        fence: 1,
        result: Uint8Array.of(1, 2),
      });
      // A bad argument throws, as the method rejects with it.
      expect(() => calls?.claim(randomUUID(), { ...owner, leaseMs: 0 })).toThrow(RangeError);
    } finally {
      await store.close();
    }
  });

  it("are what core calls for a run's claim and completion", async () => {
    const store = createSqliteStore({ database: join(dir, "synchronous-run.db") });
    const calls = store.synchronousCalls as NonNullable<typeof store.synchronousCalls>;
    const claim = vi.spyOn(calls, "claim");
    const complete = vi.spyOn(calls, "complete");
    try {
      const idem = createIdempotency({ store });
      const key = randomUUID();
      expect(await idem.run({ key }, () => "done")).toBe("done");
      expect(await idem.run({ key }, () => "again")).toBe("done");
      expect(claim).toHaveBeenCalledTimes(2);
      expect(complete).toHaveBeenCalledTimes(1);
    } finally {
      await store.close();
    }
  });
});
