// idempotency, the Middy middleware for any event, on Middy 7 (current) and 6, with a fake context.
import { ConflictError, createMemoryStore } from "@idemkit/core";
import middy7 from "@middy/core";
import type { Context } from "aws-lambda";
import middy6 from "middy-core-6";
import { describe, expect, it } from "vitest";
import type { IdempotentLambdaContext } from "./middy.js";
import { idempotency } from "./middy-event.js";
import { fakeContext } from "./testing/context.js";
import { gate, retryUntil } from "./testing/gate.js";

const VERSIONS = [
  ["Middy 7", middy7],
  ["Middy 6", middy6 as unknown as typeof middy7],
] as const;
let count = 0;
const newKey = () => `event-${Date.now()}-${++count}`;

for (const [version, middy] of VERSIONS) {
  describe(`idempotency (any event) on ${version}`, () => {
    const store = createMemoryStore();
    const keyed = { store, key: (event: { id: string }) => event.id };

    it("replays the stored response without running the handler; the handler learns its key", async () => {
      const keys: unknown[] = [];
      let runs = 0;
      const handler = middy(async (event: { id: string }, context: IdempotentLambdaContext<Context>) => {
        runs++;
        keys.push(context.idempotency?.key);
        return { processed: event.id, run: runs };
      }).use(idempotency(keyed));
      const event = { id: newKey() };
      const first = await handler(event, fakeContext());
      expect(await handler(event, fakeContext())).toEqual(first);
      expect(runs).toBe(1);
      expect(keys).toEqual([event.id]);
    });

    it("a stored undefined ends the chain early too: the handler does not run again", async () => {
      let runs = 0;
      const handler = middy(async () => {
        runs++;
      }).use(idempotency(keyed));
      const event = { id: newKey() };
      expect(await handler(event, fakeContext())).toBeUndefined();
      expect(await handler(event, fakeContext())).toBeUndefined();
      expect(runs).toBe(1);
    });

    it("a duplicate while the first runs throws ConflictError; a throwing handler's key is released", async () => {
      const held = gate();
      let runs = 0;
      const handler = middy(async () => {
        runs++;
        await held.wait();
        if (runs === 1) throw new Error("failed once");
        return "ok";
      }).use(idempotency(keyed));
      const event = { id: newKey() };
      const first = handler(event, fakeContext());
      await held.entered;
      await expect(handler(event, fakeContext())).rejects.toBeInstanceOf(ConflictError);
      held.open();
      await expect(first).rejects.toThrow("failed once");
      expect(await handler(event, fakeContext())).toBe("ok");
      expect(runs).toBe(2);
    });

    it("Middy's early timeout keeps the key held until the deadline", async () => {
      const held = gate();
      let runs = 0;
      const handler = middy(
        async () => {
          if (++runs === 1) await held.wait();
          return runs;
        },
        { timeoutEarlyInMillis: 300 },
      ).use(idempotency({ ...keyed, deadlineMarginMs: 50 }));
      const event = { id: newKey() };
      await expect(handler(event, fakeContext(500))).rejects.toMatchObject({ name: "TimeoutError" });
      await expect(handler(event, fakeContext())).rejects.toBeInstanceOf(ConflictError);
      const retried = await retryUntil(
        () => handler(event, fakeContext()).catch((error: unknown) => error),
        (result) => !(result instanceof ConflictError),
      );
      expect(retried).toBe(2);
      held.open();
    });
  });
}
