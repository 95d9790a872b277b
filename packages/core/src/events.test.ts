import { describe, expect, it } from "vitest";
import { EventStream, type IdempotencyEvent } from "./events.js";
import { createIdempotency } from "./idempotency.js";
import { createMemoryStore } from "./memory-store.js";

describe("the event stream", () => {
  it("survives listeners that throw or reject (a metrics backend that is down)", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      const seen: string[] = [];
      const idem = createIdempotency({
        store: createMemoryStore(),
        onEvent: async () => {
          throw new Error("metrics backend down");
        },
      });
      idem.on(() => {
        throw new Error("sync listener bug");
      });
      idem.on((event) => seen.push(event.type));
      expect(await idem.run({ key: "k" }, () => 1)).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(seen).toEqual(["store-call", "claimed", "store-call", "completed", "finished"]);
      expect(unhandled).toEqual([]);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });

  it("survives an async listener that rejects where the app replaced the global Promise (zone.js, bluebird)", async () => {
    const Native = globalThis.Promise;
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      const stream = new EventStream();
      stream.on(async () => {
        throw new Error("metrics backend down");
      });
      globalThis.Promise = class UserlandPromise<T> extends Native<T> {} as PromiseConstructor;
      stream.emit({ type: "takeover", key: "k", fence: 2, at: 0 } as IdempotencyEvent);
      globalThis.Promise = Native;
      await new Native((resolve) => setTimeout(resolve, 20));
      expect(unhandled).toEqual([]);
    } finally {
      globalThis.Promise = Native;
      process.off("unhandledRejection", onUnhandled);
    }
  });

  it("emits to every listener in order", () => {
    const stream = new EventStream();
    const order: number[] = [];
    stream.on(() => order.push(1));
    stream.on(() => order.push(2));
    stream.emit({ type: "takeover", key: "k", fence: 2, at: 0 } as IdempotencyEvent);
    expect(order).toEqual([1, 2]);
  });
});
