import { describe, expect, it } from "vitest";
import { ConflictError, StoreUnavailableError } from "./errors.js";
import type { FinishedEvent, IdempotencyEvent } from "./events.js";
import type { HttpExchange } from "./http/exchange.js";
import { createIdempotency, type IdempotencyOptions } from "./idempotency.js";
import { createMemoryStore } from "./memory-store.js";
import type { IdempotencyStore } from "./store.js";
import type { TransactionalStore } from "./transactional.js";

/** An instance whose events are recorded; `finished()` lists the `finished` ones. */
function recorded(options: Partial<IdempotencyOptions> = {}) {
  const events: IdempotencyEvent[] = [];
  const idem = createIdempotency({
    store: createMemoryStore(),
    scope: "global",
    onEvent: (e) => events.push(e),
    ...options,
  });
  const finished = () => events.filter((e): e is FinishedEvent => e.type === "finished");
  return { idem, events, finished };
}

/** A store whose every call fails, as one that is down does. */
function downStore(): IdempotencyStore {
  const down = () => Promise.reject(new Error("connection refused"));
  return new Proxy(createMemoryStore(), {
    get: (store, name) => (typeof Reflect.get(store, name) === "function" ? down : Reflect.get(store, name)),
  });
}

/** Work that runs until released; `running` resolves once it has started. */
function heldWork<T>(value: T) {
  let release!: () => void;
  let started!: () => void;
  const running = new Promise<void>((r) => (started = r));
  const work = () => {
    started();
    return new Promise<T>((r) => (release = () => r(value)));
  };
  return { work, running, release: () => release() };
}

const post = (key: string | null, body: unknown = { item: "book" }, path = "/orders?coupon=secret") =>
  new Request(`http://shop.test${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(key === null ? {} : { "idempotency-key": key }) },
    body: JSON.stringify(body),
  });

const created = () => Response.json({ id: 1 }, { status: 201 });

describe("the finished event of run()", () => {
  it("says executed with the fence and name, then replayed, each with the stored key and a duration", async () => {
    const { idem, finished } = recorded();
    await idem.run({ key: "k", name: "charge-card" }, () => 1);
    await idem.run({ key: "k", name: "charge-card" }, () => 2);
    expect(finished()).toEqual([
      expect.objectContaining({ key: "idem:run:0::k", outcome: "executed", fence: 1, name: "charge-card" }),
      expect.objectContaining({ key: "idem:run:0::k", outcome: "replayed", name: "charge-card" }),
    ]);
    for (const event of finished()) expect(event.durationMs).toBeGreaterThanOrEqual(0);
    expect(finished()[1]).not.toHaveProperty("fence");
  });

  it("says conflict for a concurrent duplicate and mismatch for other input", async () => {
    const { idem, finished } = recorded();
    const held = heldWork("a");
    const first = idem.run({ key: "k", input: 1 }, held.work);
    await held.running;
    await expect(idem.run({ key: "k", input: 1 }, () => "b")).rejects.toBeInstanceOf(ConflictError);
    held.release();
    await first;
    await expect(idem.run({ key: "k", input: 2 }, () => "c")).rejects.toThrow();
    expect(finished().map((e) => e.outcome)).toEqual(["conflict", "executed", "mismatch"]);
  });

  it("says failed with the work's error, even when that error is another key's ConflictError", async () => {
    const { idem, finished } = recorded();
    const boom = new Error("boom");
    await expect(idem.run({ key: "a" }, () => Promise.reject(boom))).rejects.toBe(boom);
    const held = heldWork(undefined);
    const holder = idem.run({ key: "held" }, held.work);
    await held.running;
    const nested = idem.run({ key: "outer" }, () => idem.run({ key: "held" }, () => 0));
    await expect(nested).rejects.toBeInstanceOf(ConflictError);
    held.release();
    await holder;
    const byKey = Object.fromEntries(finished().map((e) => [e.key, e]));
    expect(byKey["idem:run:0::a"]).toMatchObject({ outcome: "failed", error: boom, fence: 1 });
    expect(byKey["idem:run:0::outer"]).toMatchObject({ outcome: "failed", fence: 1 });
    expect(byKey["idem:run:0::held"]).toMatchObject({ outcome: "executed" });
  });

  it("says unavailable with the store's error when the store is down", async () => {
    const { idem, finished } = recorded({ store: downStore() });
    await expect(idem.run({ key: "k" }, () => 1)).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(finished()).toEqual([
      expect.objectContaining({ outcome: "unavailable", error: expect.any(StoreUnavailableError) }),
    ]);
  });

  it("refuses a ready-made fingerprint that is not a string (a promise, a number), before any claim", async () => {
    const { idem, events } = recorded();
    for (const fingerprint of [Promise.resolve("fp"), 42]) {
      await expect(
        idem.run({ key: "k", fingerprint: fingerprint as unknown as string }, () => 1),
      ).rejects.toThrow("run() fingerprint must be a string");
    }
    expect(events.filter((e) => e.type === "store-call")).toEqual([]);
  });

  it("refuses a name that is not a string", async () => {
    const { idem } = recorded();
    await expect(idem.run({ key: "k", name: 42 as unknown as string }, () => 1)).rejects.toThrow(
      "run() name must be a string",
    );
  });
});

describe("store-call events", () => {
  it("report every store call that answered, with its operation; failed calls are store-errors", async () => {
    const { idem, events } = recorded();
    await idem.run({ key: "k" }, () => 1);
    await expect(idem.run({ key: "k" }, () => 1)).resolves.toBe(1);
    const calls = events.flatMap((e) => (e.type === "store-call" ? [[e.operation, e.key]] : []));
    expect(calls).toEqual([
      ["claim", "idem:run:0::k"],
      ["complete", "idem:run:0::k"],
      ["claim", "idem:run:0::k"],
    ]);
    const down = recorded({ store: downStore() });
    await expect(down.idem.run({ key: "k" }, () => 1)).rejects.toThrow();
    expect(down.events.map((e) => e.type)).toEqual(["store-error", "store-error", "finished"]);
  });
});

describe("the finished event of an HTTP request", () => {
  it("carries method, path without its query, status and outcome: executed, then replayed", async () => {
    const { idem, finished } = recorded();
    const app = idem.wrap(created);
    expect((await app(post("a"))).status).toBe(201);
    expect((await app(post("a"))).status).toBe(201);
    expect(finished()).toEqual([
      expect.objectContaining({
        key: "idem:http:0::a",
        outcome: "executed",
        fence: 1,
        http: { method: "POST", path: "/orders", status: 201 },
      }),
      expect.objectContaining({
        outcome: "replayed",
        http: { method: "POST", path: "/orders", status: 201 },
      }),
    ]);
  });

  it("says conflict (409), mismatch (422) and rejected (400, with the reason and no key)", async () => {
    const { idem, finished } = recorded();
    let release!: () => void;
    let running!: () => void;
    const started = new Promise<void>((r) => (running = r));
    const app = idem.wrap(async () => {
      running();
      await new Promise<void>((r) => (release = r));
      return created();
    });
    const first = app(post("a"));
    await started;
    expect((await app(post("a"))).status).toBe(409);
    release();
    await first;
    expect((await app(post("a", { item: "pen" }))).status).toBe(422);
    expect((await app(post('"a", "b"'))).status).toBe(400);
    expect(finished().map((e) => [e.outcome, e.http?.status])).toEqual([
      ["conflict", 409],
      ["executed", 201],
      ["mismatch", 422],
      ["rejected", 400],
    ]);
    expect(finished()[3]).toMatchObject({ key: undefined, reason: "key-invalid" });
  });

  it("says unavailable: 503, or no status when failing open (the route ran unprotected)", async () => {
    const closed = recorded({ store: downStore() });
    expect((await closed.idem.wrap(created)(post("a"))).status).toBe(503);
    expect(closed.finished()).toEqual([
      expect.objectContaining({ outcome: "unavailable", http: expect.objectContaining({ status: 503 }) }),
    ]);
    const open = recorded({ store: downStore(), onStoreUnavailable: "open" });
    expect((await open.idem.wrap(created)(post("a"))).status).toBe(201);
    expect(open.finished()).toHaveLength(1);
    expect(open.finished()[0]).toMatchObject({
      outcome: "unavailable",
      error: expect.any(StoreUnavailableError),
    });
    expect(open.finished()[0]?.http).not.toHaveProperty("status");
  });

  it("says failed, with the route's error and no status, when the route throws", async () => {
    const { idem, finished } = recorded();
    const boom = new Error("boom");
    await expect(
      idem.wrap(() => {
        throw boom;
      })(post("a")),
    ).rejects.toBe(boom);
    expect(finished()).toEqual([expect.objectContaining({ outcome: "failed", error: boom, fence: 1 })]);
    expect(finished()[0]?.http).toEqual({ method: "POST", path: "/orders" });
  });

  it("carries the route's template from an integration's hook; a hook that throws is ignored", async () => {
    const hooks: [(request: { id: string }) => string, string | undefined][] = [
      [() => "/orders/:id", "/orders/:id"],
      [
        () => {
          throw new Error("hook bug");
        },
        undefined,
      ],
    ];
    for (const [route, template] of hooks) {
      const { idem, finished } = recorded();
      const entry = idem.exchange<{ id: string }>({}, "test", { route });
      const exchange: HttpExchange<{ id: string }> = {
        method: "POST",
        target: "/orders/7",
        header: (name) => (name === "idempotency-key" ? "k" : undefined),
        body: { kind: "bytes", bytes: new Uint8Array(0) },
        request: { id: "7" },
      };
      const run = await entry.begin(exchange);
      if (run.kind !== "run") throw new Error(`expected a run, got ${run.kind}`);
      await run.finish({ status: 200, headers: {}, body: new Uint8Array(0) });
      run.abandon(); // an integration that ends a run twice still reports it once
      expect(finished()).toHaveLength(1);
      expect(finished()[0]).toMatchObject({ outcome: "executed", http: { path: "/orders/7", status: 200 } });
      expect(finished()[0]?.http?.route).toBe(template);
    }
  });

  it("in transactional mode: executed with the status and fence, replayed, rejected without a key", async () => {
    const { idem, finished } = recorded();
    const done = new Map<string, Uint8Array>();
    const store: TransactionalStore<null> = {
      async transaction(key, claim, work) {
        const result = done.get(key);
        if (result) {
          const record = {
            state: "completed",
            token: "",
            fingerprint: claim.fingerprint,
            fence: 3,
            result,
            expiresAt: Date.now() + 60_000,
          } as const;
          return { acquired: false, record };
        }
        const output = await work({ client: null, fence: 3 });
        if (output.commit) done.set(key, output.result);
        return { acquired: true, fence: 3, value: output.value, committed: output.commit };
      },
    };
    const app = idem.transactional(store).wrap(created);
    await app(post("a"));
    await app(post("a"));
    await app(post(null));
    expect(finished().map((e) => [e.outcome, e.http?.status, e.fence])).toEqual([
      ["executed", 201, 3],
      ["replayed", 201, undefined],
      ["rejected", 400, undefined],
    ]);
    expect(finished()[2]).toMatchObject({ key: undefined, reason: "key-missing" });
  });
});
