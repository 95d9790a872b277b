// Transactional mode: a duplicate waits in the database for the first transaction, as long as
// `waitMs` allows (the store bounds it), and only the rest is bounded by storeTimeoutMs (issue 13,
// item 7). The store here is an in-memory stand-in whose per-key lock plays the row a duplicate waits
// on; the PostgreSQL suite shows the same against a real database (transaction-wait.test.ts there).
import { describe, expect, it } from "vitest";
import { Engine } from "./engine.js";
import { EventStream, type IdempotencyEvent } from "./events.js";
import { createIdempotency } from "./idempotency.js";
import { createMemoryStore } from "./memory-store.js";
import type { CompletedRecord } from "./store.js";
import { runTransaction, type TransactionalStore } from "./transactional.js";

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const bytes = (text: string) => new TextEncoder().encode(text);

/**
 * A transactional store whose duplicate waits on the first's lock at most `claim.waitMs` (then it is
 * busy), after `connectMs` of "connecting"; `ignoresWait` plays a store that knows nothing of waitMs.
 */
function lockingStore(options: { connectMs?: number; ignoresWait?: boolean } = {}) {
  const locks = new Map<string, Promise<void>>();
  const committed = new Map<string, CompletedRecord>();
  const seen: { waitMs?: number }[] = [];
  const store: TransactionalStore<null> = {
    async transaction(key, claim, work) {
      seen.push({ waitMs: claim.waitMs });
      await sleep(options.connectMs ?? 0);
      if (!options.ignoresWait) claim.onClaimSent?.();
      const deadline =
        claim.waitMs === undefined || options.ignoresWait ? Infinity : Date.now() + claim.waitMs;
      while (locks.has(key)) {
        const left = deadline - Date.now();
        if (left <= 0) return { acquired: false, busy: true };
        await Promise.race([locks.get(key), ...(Number.isFinite(left) ? [sleep(left)] : [])]);
      }
      const existing = committed.get(key);
      if (existing) return { acquired: false, record: existing };
      let unlock!: () => void;
      locks.set(key, new Promise<void>((resolve) => (unlock = resolve)));
      try {
        const output = await work({ client: null, fence: 1 });
        if (output.commit) {
          committed.set(key, {
            state: "completed",
            token: "tx",
            fingerprint: claim.fingerprint,
            fence: 1,
            result: output.result,
            expiresAt: Date.now() + claim.retentionMs,
          });
        }
        return { acquired: true, fence: 1, value: output.value, committed: output.commit };
      } finally {
        locks.delete(key);
        unlock();
      }
    },
  };
  return { store, seen };
}

function engineWith(storeTimeoutMs: number) {
  const events: IdempotencyEvent[] = [];
  const stream = new EventStream();
  stream.on((event) => {
    events.push(event);
  });
  return { engine: new Engine({ store: createMemoryStore(), storeTimeoutMs }, stream), events };
}

const slowWork = (ms: number, value: string) => async () => {
  await sleep(ms);
  return { value, result: bytes(value), commit: true };
};

describe("runTransaction: how long a duplicate waits (issue 13, item 7)", () => {
  it("a first transaction longer than storeTimeoutMs: the duplicate waits for its commit and replays; no store-error", async () => {
    const { store, seen } = lockingStore();
    const { engine, events } = engineWith(100);
    const first = runTransaction(engine, store, "k", "fp", slowWork(400, "first"));
    await sleep(50);
    const duplicate = await runTransaction(engine, store, "k", "fp", slowWork(0, "second"));
    expect(duplicate.kind).toBe("replay");
    expect(await first).toEqual({ kind: "ran", value: "first" });
    expect(events.map((e) => e.type)).not.toContain("store-error");
    expect(seen[1]).toEqual({ waitMs: 10_000 }); // the default: as long as waitForInFlight waits
  });

  it("a wait bound below the first's work: the duplicate is a conflict after waitMs (one conflict event), no store-error", async () => {
    const { store } = lockingStore();
    const { engine, events } = engineWith(1_000);
    const first = runTransaction(engine, store, "k", "fp", slowWork(600, "first"));
    await sleep(50);
    const started = performance.now();
    const duplicate = await runTransaction(engine, store, "k", "fp", slowWork(0, "second"), 150);
    expect(duplicate.kind).toBe("conflict");
    expect(performance.now() - started).toBeLessThan(550);
    expect(events.filter((e) => e.type === "conflict")).toHaveLength(1);
    expect(events.map((e) => e.type)).not.toContain("store-error");
    expect(await first).toEqual({ kind: "ran", value: "first" });
  });

  it("connecting is still bounded by storeTimeoutMs alone, however long the wait bound", async () => {
    const { store } = lockingStore({ connectMs: 400 });
    const { engine, events } = engineWith(100);
    const started = performance.now();
    await expect(runTransaction(engine, store, "k", "fp", slowWork(0, "x"), 10_000)).rejects.toThrow(
      /store/i,
    );
    expect(performance.now() - started).toBeLessThan(350);
    expect(events.map((e) => e.type)).toContain("store-error");
  });

  it("a store that ignores waitMs (never says it sent the claim) is bounded by storeTimeoutMs as before", async () => {
    const { store } = lockingStore({ ignoresWait: true });
    const { engine, events } = engineWith(100);
    const first = runTransaction(engine, store, "k", "fp", slowWork(400, "first"));
    await sleep(20);
    await expect(runTransaction(engine, store, "k", "fp", slowWork(0, "x"))).rejects.toThrow();
    expect(events.map((e) => e.type)).toContain("store-error");
    await first;
  });
});

describe("transactional mode through the HTTP layer: the duplicate of a slow first request", () => {
  it("waits in the store and replays, instead of a 503 with a store-error (storeTimeoutMs 100, a 400 ms handler)", async () => {
    const { store } = lockingStore();
    const events: string[] = [];
    const idem = createIdempotency({
      store: createMemoryStore(),
      scope: "global",
      storeTimeoutMs: 100,
      onEvent: (event) => events.push(event.type),
    });
    let runs = 0;
    const route = idem.transactional(store).wrap(async () => {
      runs++;
      await sleep(400);
      return Response.json({ ok: true }, { status: 201 });
    });
    const post = () =>
      route(new Request("http://x/orders", { method: "POST", headers: { "idempotency-key": "k1" } }));
    const first = post();
    await sleep(50);
    const duplicate = await post();
    expect(duplicate.status).toBe(201);
    expect(duplicate.headers.get("idempotent-replayed")).toBe("true");
    expect((await first).status).toBe(201);
    expect(runs).toBe(1);
    expect(events).not.toContain("store-error");
  });
});
