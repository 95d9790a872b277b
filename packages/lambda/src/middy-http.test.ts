// httpIdempotency, the Middy middleware for API Gateway events, on Middy 7 (current) and 6, with
// recorded events and a fake context.
import { createMemoryStore, type IdempotencyStore } from "@idemkit/core";
import middy7 from "@middy/core";
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from "aws-lambda";
import middy6 from "middy-core-6";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { IdempotentLambdaContext } from "./middy.js";
import { httpIdempotency } from "./middy-http.js";
import { fakeContext } from "./testing/context.js";
import { restApiEvent } from "./testing/events.js";
import { gate, retryUntil, sleep } from "./testing/gate.js";
import { testStores } from "./testing/stores.js";
import type { LambdaHttpResult } from "./types.js";

const stores = await testStores();
const VERSIONS = [
  ["Middy 7", middy7],
  ["Middy 6", middy6 as unknown as typeof middy7],
] as const;
let count = 0;
const newKey = () => `key-${Date.now()}-${++count}`;
const post = (key: string, body = '{"item":"book"}') =>
  restApiEvent({ headers: [["Idempotency-Key", key]], body });

/** Middlewares as an app has them after idemkit: a response serializer and CORS headers. */
const serializeJson = {
  after: async (request: { response: unknown }) => {
    const response = request.response as { statusCode: number; body: unknown };
    if (typeof response.body !== "string") {
      request.response = {
        ...response,
        headers: { "content-type": "application/json" },
        body: JSON.stringify(response.body),
      };
    }
  },
};
const cors = {
  after: async (request: { response: unknown }) => {
    const response = request.response as APIGatewayProxyResult;
    response.headers = { ...response.headers, "access-control-allow-origin": "https://shop.example" };
  },
};
/** Answers errors as http-error-handler does: a status the error carries, else 500. */
const errorHandler = {
  onError: async (request: { error: unknown; response: unknown }) => {
    const status = (request.error as { statusCode?: number }).statusCode ?? 500;
    request.response = { statusCode: status, body: (request.error as Error).message };
  },
};

for (const [version, middy] of VERSIONS) {
  for (const { name, skip, open } of stores) {
    describe.skipIf(skip)(`httpIdempotency on ${version}, ${name} store`, () => {
      let store: IdempotencyStore;
      let close: () => Promise<void>;
      beforeEach(() => {
        ({ store, close } = open());
      });
      afterEach(() => close());

      it("used first: stores the response the other middlewares made, and replays it byte for byte", async () => {
        const keys: unknown[] = [];
        let runs = 0;
        const handler = middy(
          async (event: APIGatewayProxyEvent, context: IdempotentLambdaContext<Context>) => {
            runs++;
            keys.push(context.idempotency?.key);
            return { statusCode: 201, body: { id: "o-1", item: JSON.parse(event.body!).item } } as never;
          },
        )
          .use(httpIdempotency({ store, scope: "global" }))
          .use(cors)
          .use(serializeJson);
        const key = newKey();
        const first = (await handler(post(key), fakeContext())) as LambdaHttpResult;
        expect(first).toMatchObject({
          statusCode: 201,
          headers: {
            "content-type": "application/json",
            "access-control-allow-origin": "https://shop.example",
          },
          body: '{"id":"o-1","item":"book"}',
        });
        const replay = (await handler(post(key), fakeContext())) as LambdaHttpResult;
        expect(replay).toEqual({
          ...first,
          headers: { ...first.headers, "idempotent-replayed": "true" },
          multiValueHeaders: { ...first.multiValueHeaders, "idempotent-replayed": ["true"] },
        });
        expect(runs).toBe(1);
        expect(keys).toEqual([key]);
      });

      it("two invocations at once: one runs, the other is answered 409 early", async () => {
        const held = gate();
        let runs = 0;
        const handler = middy(async () => {
          runs++;
          await held.wait();
          return { statusCode: 201, body: "created" };
        }).use(httpIdempotency({ store, scope: "global" }));
        const event = post(newKey());
        const both = [handler(event, fakeContext()), handler(event, fakeContext())];
        expect(await Promise.race(both)).toMatchObject({ statusCode: 409 });
        held.open();
        expect((await Promise.all(both)).map((r) => (r as LambdaHttpResult).statusCode).sort()).toEqual([
          201, 409,
        ]);
        expect(runs).toBe(1);
      });

      it("a handler that throws releases the key; the retry runs", async () => {
        let runs = 0;
        const handler = middy(async () => {
          if (++runs === 1) throw new Error("inventory service down");
          return { statusCode: 201, body: "ok" };
        }).use(httpIdempotency({ store, scope: "global" }));
        const event = post(newKey());
        await expect(handler(event, fakeContext())).rejects.toThrow("inventory service down");
        expect(await handler(event, fakeContext())).toMatchObject({ statusCode: 201 });
        expect(runs).toBe(2);
      });
    });
  }

  describe(`httpIdempotency on ${version}`, () => {
    const store = createMemoryStore();

    it("an error handler's 4xx answer is stored as the response; its 500 releases the key", async () => {
      let runs = 0;
      const handler = middy(async () => {
        runs++;
        throw Object.assign(new Error(runs === 1 ? "upstream failed" : "quantity must be positive"), {
          statusCode: runs === 1 ? undefined : 400,
        });
      })
        .use(httpIdempotency({ store, scope: "global" }))
        .use(errorHandler);
      const event = post(newKey());
      expect(await handler(event, fakeContext())).toMatchObject({ statusCode: 500, body: "upstream failed" });
      expect(await handler(event, fakeContext())).toMatchObject({ statusCode: 400 });
      expect(await handler(event, fakeContext())).toMatchObject({
        statusCode: 400,
        body: "quantity must be positive",
        headers: { "idempotent-replayed": "true" },
      });
      expect(runs).toBe(2);
    });

    it("Middy's early timeout does not release the key (the handler may still run): retries wait for the deadline", async () => {
      const held = gate();
      let runs = 0;
      const handler = middy(
        async () => {
          if (++runs === 1) await held.wait();
          return { statusCode: 201, body: `run ${runs}` };
        },
        { timeoutEarlyInMillis: 300 },
      ).use(httpIdempotency({ store, scope: "global", deadlineMarginMs: 50 }));
      const event = post(newKey());
      await expect(handler(event, fakeContext(500))).rejects.toMatchObject({ name: "TimeoutError" });
      expect(await handler(event, fakeContext())).toMatchObject({ statusCode: 409 });
      const retried = await retryUntil(
        () => handler(event, fakeContext()) as Promise<LambdaHttpResult>,
        (r) => r.statusCode !== 409,
      );
      expect(retried).toMatchObject({ statusCode: 201, body: "run 2" });
      held.open();
    });

    it("a later middleware that answers early leaves the key to its deadline, and stops its heartbeat there", async () => {
      const extendsAt: number[] = [];
      const recording: IdempotencyStore = {
        ...store,
        extend: (key, token, leaseMs) => {
          extendsAt.push(performance.now());
          return store.extend(key, token, leaseMs);
        },
      };
      let runs = 0;
      const unauthorized = { before: async () => ({ statusCode: 401, body: "no" }) };
      const handler = middy(async () => {
        runs++;
        return { statusCode: 201, body: "ran" };
      })
        .use(
          httpIdempotency({
            store: recording,
            scope: "global",
            leaseMs: 60,
            heartbeatMs: 20,
            deadlineMarginMs: 0,
          }),
        )
        .use(unauthorized);
      const event = post(newKey());
      const remaining = 150;
      const deadline = performance.now() + remaining;
      expect(await handler(event, fakeContext(remaining))).toMatchObject({ statusCode: 401 });
      await sleep(remaining + 150);
      const renewedAfter = extendsAt.filter((at) => at > deadline + 5).length;
      await sleep(100);
      expect(extendsAt.filter((at) => at > deadline + 5).length).toBe(renewedAfter);
      expect(renewedAfter).toBeLessThanOrEqual(1);
      expect(runs).toBe(0);
    });

    it("GET passes through untouched", async () => {
      const handler = middy(
        async (_event: APIGatewayProxyEvent, context: IdempotentLambdaContext<Context>) => ({
          statusCode: 200,
          body: String(context.idempotency),
        }),
      ).use(httpIdempotency({ store, scope: "global" }));
      expect(await handler(restApiEvent({ method: "GET" }), fakeContext())).toEqual({
        statusCode: 200,
        body: "undefined",
      });
    });
  });
}
