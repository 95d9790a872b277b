// makeIdempotent, for any event: SQS records, EventBridge events, direct invocations.
import { ConflictError, createMemoryStore, type IdempotencyStore, MismatchError } from "@idemkit/core";
import type { Context, EventBridgeEvent, Handler, SQSRecord } from "aws-lambda";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeIdempotent } from "./make-idempotent.js";
import { fakeContext } from "./testing/context.js";
import { sqsRecord } from "./testing/events.js";
import { gate, retryUntil } from "./testing/gate.js";
import { testStores } from "./testing/stores.js";

const stores = await testStores();
let count = 0;
const newId = () => `msg-${Date.now()}-${++count}`;

interface Charged {
  chargeId: string;
  amount: number;
  at: string;
}

for (const { name, skip, open } of stores) {
  describe.skipIf(skip)(`makeIdempotent on the ${name} store`, () => {
    let store: IdempotencyStore;
    let close: () => Promise<void>;
    beforeEach(() => {
      ({ store, close } = open());
    });
    afterEach(() => close());

    it("an SQS record redelivered: the handler runs once, the redelivery gets the stored JSON result", async () => {
      let runs = 0;
      const charge = makeIdempotent(
        async (record: SQSRecord): Promise<Charged> => {
          runs++;
          const { amount } = JSON.parse(record.body) as { amount: number };
          return { chargeId: `ch-${runs}`, amount, at: new Date(0).toISOString() };
        },
        { store, key: (record) => record.messageId },
      );
      const id = newId();
      const first = await charge(sqsRecord(id, { amount: 1250 }), fakeContext());
      const redelivered = await charge(sqsRecord(id, { amount: 1250 }, 2), fakeContext());
      expect(first).toEqual({ chargeId: "ch-1", amount: 1250, at: "1970-01-01T00:00:00.000Z" });
      expect(redelivered).toEqual(first);
      expect(JSON.stringify(redelivered)).toBe(JSON.stringify(first));
      expect(runs).toBe(1);
    });

    it("two invocations at once: one runs, the other throws ConflictError", async () => {
      const held = gate();
      let runs = 0;
      const handler = makeIdempotent(
        async () => {
          runs++;
          await held.wait();
          return "done";
        },
        { store, key: (event: { id: string }) => event.id },
      );
      const event = { id: newId() };
      const both = [handler(event, fakeContext()), handler(event, fakeContext())];
      await expect(Promise.race(both)).rejects.toBeInstanceOf(ConflictError);
      held.open();
      const settled = await Promise.allSettled(both);
      expect(settled.map((s) => s.status).sort()).toEqual(["fulfilled", "rejected"]);
      expect(runs).toBe(1);
    });

    it("a handler that throws releases its key: the retry runs", async () => {
      let runs = 0;
      const handler = makeIdempotent(
        async () => {
          if (++runs === 1) throw new Error("card network down");
          return { ok: runs };
        },
        { store, key: (event: { id: string }) => event.id },
      );
      const event = { id: newId() };
      await expect(handler(event, fakeContext())).rejects.toThrow("card network down");
      expect(await handler(event, fakeContext())).toEqual({ ok: 2 });
      expect(await handler(event, fakeContext())).toEqual({ ok: 2 });
      expect(runs).toBe(2);
    });

    it("an invocation that timed out holds its key until its deadline (plus the margin) only", async () => {
      const held = gate();
      let runs = 0;
      const handler = makeIdempotent(
        async () => {
          if (++runs === 1) await held.wait(); // stands for an invocation Lambda stopped
          return { run: runs };
        },
        { store, key: (event: { id: string }) => event.id, deadlineMarginMs: 50 },
      );
      const event = { id: newId() };
      const timedOut = handler(event, fakeContext(500));
      await held.entered;
      await expect(handler(event, fakeContext())).rejects.toBeInstanceOf(ConflictError);
      const retried = await retryUntil(
        () => handler(event, fakeContext()).catch((error: unknown) => error),
        (result) => !(result instanceof ConflictError),
      );
      expect(retried).toEqual({ run: 2 });
      held.open();
      expect(await timedOut).toEqual({ run: 2 }); // its own result was refused: the key's is the retry's
      expect(runs).toBe(2);
    });
  });
}

describe("makeIdempotent", () => {
  const store = createMemoryStore();

  it("an EventBridge event, keyed by a field of its detail; the handler learns its key and fence", async () => {
    const seen: unknown[] = [];
    const handler = makeIdempotent(
      async (event: EventBridgeEvent<"OrderPlaced", { orderId: string }>, _context: Context, idempotency) => {
        seen.push({ key: idempotency.key, fence: idempotency.fence, signal: idempotency.signal.aborted });
        return event.detail.orderId;
      },
      { store, key: (event) => `order-placed:${event.detail.orderId}`, name: "ship-order" },
    );
    const event = {
      version: "0",
      id: "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
      "detail-type": "OrderPlaced",
      source: "com.example.orders",
      account: "123456789012",
      time: "2026-03-10T16:41:56Z",
      region: "eu-west-1",
      resources: [],
      detail: { orderId: "o-42" },
    } as EventBridgeEvent<"OrderPlaced", { orderId: string }>;
    expect(await handler(event, fakeContext())).toBe("o-42");
    expect(await handler({ ...event, id: "another-delivery" }, fakeContext())).toBe("o-42");
    expect(seen).toEqual([{ key: "order-placed:o-42", fence: 1, signal: false }]);
  });

  it("a reused key with another input throws MismatchError", async () => {
    const handler = makeIdempotent(async (event: { id: string; amount: number }) => event.amount, {
      store,
      key: (event) => event.id,
      input: (event) => ({ amount: event.amount }),
    });
    const id = newId();
    await handler({ id, amount: 1 }, fakeContext());
    await expect(handler({ id, amount: 2 }, fakeContext())).rejects.toBeInstanceOf(MismatchError);
  });

  it("scopes keep keys apart", async () => {
    let runs = 0;
    const options = { store, key: (event: { id: string }) => event.id };
    const a = makeIdempotent(async () => ++runs, { ...options, scope: "tenant-a" });
    const b = makeIdempotent(async () => ++runs, { ...options, scope: "tenant-b" });
    const event = { id: newId() };
    expect([
      await a(event, fakeContext()),
      await b(event, fakeContext()),
      await a(event, fakeContext()),
    ]).toEqual([1, 2, 1]);
  });

  it("waitForInFlight: a retry waits for the first invocation and returns its result", async () => {
    const held = gate();
    let runs = 0;
    const handler = makeIdempotent(
      async () => {
        runs++;
        await held.wait();
        return "first";
      },
      { store, key: (event: { id: string }) => event.id, waitForInFlight: { timeoutMs: 5_000, pollMs: 10 } },
    );
    const event = { id: newId() };
    const first = handler(event, fakeContext());
    await held.entered;
    const waiting = handler(event, fakeContext());
    held.open();
    expect(await Promise.all([first, waiting])).toEqual(["first", "first"]);
    expect(runs).toBe(1);
  });

  it("a stored undefined (a handler with nothing to return) is replayed, not run again", async () => {
    let runs = 0;
    const handler = makeIdempotent(
      async () => {
        runs++;
      },
      { store, key: (event: { id: string }) => event.id },
    );
    const event = { id: newId() };
    expect(await handler(event, fakeContext())).toBeUndefined();
    expect(await handler(event, fakeContext())).toBeUndefined();
    expect(runs).toBe(1);
  });

  it("needs the Lambda context, and a key function", async () => {
    const handler = makeIdempotent(async () => 1, { store, key: (event: { id: string }) => event.id });
    await expect(handler({ id: "x" }, undefined as never)).rejects.toThrow(/needs the Lambda context/);
    expect(() => makeIdempotent(async () => 1, { store } as never)).toThrow(/key must be a function/);
    expect(() => makeIdempotent(async () => 1, { store, key: () => "k", input: 1 } as never)).toThrow(
      /input/,
    );
    expect(() => makeIdempotent(async () => 1, { store, key: () => "k", scope: 1 } as never)).toThrow(
      /scope/,
    );
    const empty = makeIdempotent(async () => 1, { store, key: () => "" });
    await expect(empty({}, fakeContext())).rejects.toThrow(/non-empty string key/);
  });

  it("fits the Handler type of @types/aws-lambda", () => {
    const handler: Handler<SQSRecord, Charged> = makeIdempotent(
      async (record: SQSRecord) => ({ chargeId: record.messageId, amount: 1, at: "" }),
      { store, key: (record) => record.messageId },
    );
    expect(typeof handler).toBe("function");
  });
});
