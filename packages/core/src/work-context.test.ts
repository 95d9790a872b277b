import assert from "node:assert";
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { createIdempotency } from "./idempotency.js";
import { createMemoryStore } from "./memory-store.js";
import { workContext } from "./work-context.js";

describe("workContext", () => {
  it("has its fields and an enumerable signal, read from the source only when used", () => {
    let reads = 0;
    const controller = new AbortController();
    const source = {
      get signal() {
        reads++;
        return controller.signal;
      },
    };
    const context = workContext({ key: "k", fence: 3 }, source);
    expect(reads).toBe(0);
    expect(Object.keys(context)).toEqual(["key", "fence", "signal"]);
    const { signal, ...rest } = context;
    expect(signal).toBe(controller.signal);
    expect(rest).toEqual({ key: "k", fence: 3 });
    expect({ ...context }).toEqual({ key: "k", fence: 3, signal: controller.signal });
    expect(reads).toBeGreaterThan(0); // 3 on Node 20, whose V8 reads `signal` again for `...rest`; 2 on Node 24
  });

  it("shares one getter among all contexts (a getter per object costs a hidden class each)", () => {
    const source = { signal: new AbortController().signal };
    const getterOf = (context: object) => Object.getOwnPropertyDescriptor(context, "signal")?.get;
    const first = getterOf(workContext({ fence: 1 }, source));
    expect(first).toBeTypeOf("function");
    expect(getterOf(workContext({ fence: 2 }, source))).toBe(first);
  });

  it("stays a plain object: prototype, strict equality, inspection, proxies and heirs read the signal", () => {
    const controller = new AbortController();
    const context = workContext({ fence: 1 }, { signal: controller.signal });
    expect(Object.getPrototypeOf(context)).toBe(Object.prototype);
    expect(context).toStrictEqual({ fence: 1, signal: controller.signal });
    assert.deepStrictEqual(context, { fence: 1, signal: controller.signal });
    expect(inspect(context)).toBe("{ fence: 1, signal: [Getter] }");
    expect(new Proxy(context, {}).signal).toBe(controller.signal);
    expect((Object.create(context) as typeof context).signal).toBe(controller.signal);
    const copy: { signal?: AbortSignal } = Object.defineProperties(
      {},
      Object.getOwnPropertyDescriptors(context),
    );
    expect(copy.signal).toBe(controller.signal);
    expect(Reflect.get(context, "signal", {})).toBeUndefined(); // no context there: no throw
  });

  it("is what run() hands its work: fence and the lease's signal, spreadable", async () => {
    const idem = createIdempotency({ store: createMemoryStore() });
    const seen = await idem.run({ key: "k" }, (context) => ({ ...context }));
    expect(seen.fence).toBe(1);
    expect(seen.signal).toBeInstanceOf(AbortSignal);
    expect(seen.signal.aborted).toBe(false);
    const getters = await Promise.all(
      ["a", "b"].map((key) =>
        idem.run({ key }, (context) => Object.getOwnPropertyDescriptor(context, "signal")?.get),
      ),
    );
    expect(getters[0]).toBe(getters[1]);
  });

  it("is what an HTTP handler gets: key, fence and the lease's signal, one getter for all", async () => {
    const idem = createIdempotency({ store: createMemoryStore(), scope: "global" });
    const getters: unknown[] = [];
    for (const key of ["a", "b"]) {
      const request = new Request("http://x/o", { method: "POST", headers: { "idempotency-key": key } });
      const response = await idem.handle(request, (_request, context) => {
        getters.push(Object.getOwnPropertyDescriptor(context, "signal")?.get);
        return Response.json({ key: context.key, fence: context.fence, aborted: context.signal.aborted });
      });
      expect(await response.json()).toEqual({ key, fence: 1, aborted: false });
    }
    expect(getters[0]).toBeTypeOf("function");
    expect(getters[1]).toBe(getters[0]);
  });
});
