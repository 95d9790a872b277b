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

  it("emits to every listener in order", () => {
    const stream = new EventStream();
    const order: number[] = [];
    stream.on(() => order.push(1));
    stream.on(() => order.push(2));
    stream.emit({ type: "takeover", key: "k", fence: 2, at: 0 } as IdempotencyEvent);
    expect(order).toEqual([1, 2]);
  });
});
