// makeHttpIdempotent on each store, with recorded event shapes and a fake context: first answers and
// their replays, concurrent duplicates, a handler that throws, and an invocation that timed out.
import type { IdempotencyStore } from "@idemkit/core";
import type {
  APIGatewayProxyEvent,
  APIGatewayProxyEventV2,
  APIGatewayProxyResult,
  Context,
} from "aws-lambda";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { LambdaHttpOptions } from "./http-flow.js";
import { makeHttpIdempotent } from "./http-handler.js";
import { fakeContext } from "./testing/context.js";
import { functionUrlEvent, httpApiEvent, PNG_BYTES, restApiEvent } from "./testing/events.js";
import { gate, retryUntil } from "./testing/gate.js";
import { testStores } from "./testing/stores.js";
import type { HttpEvent, LambdaHttpResult } from "./types.js";

const stores = await testStores();
const keyHeader = (key: string): [string, string] => ["Idempotency-Key", key];
let keyCount = 0;
const newKey = () => `key-${Date.now()}-${++keyCount}`;
/** The caller, as each event's authorizer names it. */
const account = (event: HttpEvent): string | undefined => {
  const context = (event as { requestContext?: { authorizer?: Record<string, unknown> } }).requestContext;
  const authorizer = context?.authorizer as
    | { claims?: { sub?: string }; jwt?: { claims?: { sub?: string } }; iam?: { accountId?: string } }
    | undefined;
  return authorizer?.claims?.sub ?? authorizer?.jwt?.claims?.sub ?? authorizer?.iam?.accountId;
};

/** The replay of `first`: the same status and body, its stored headers, and Idempotent-Replayed. */
function replayOf(first: LambdaHttpResult, notStored: string[]): LambdaHttpResult {
  const keep = ([name]: [string, unknown]) => !notStored.includes(name);
  const replay: LambdaHttpResult = {
    ...first,
    headers: {
      ...Object.fromEntries(Object.entries(first.headers).filter(keep)),
      "idempotent-replayed": "true",
    },
  };
  if (first.multiValueHeaders) {
    const multi = Object.fromEntries(Object.entries(first.multiValueHeaders).filter(keep));
    replay.multiValueHeaders = { ...multi, "idempotent-replayed": ["true"] };
  }
  delete replay.cookies;
  return replay;
}

for (const { name, skip, open } of stores) {
  describe.skipIf(skip)(`makeHttpIdempotent on the ${name} store`, () => {
    let store: IdempotencyStore;
    let close: () => Promise<void>;
    beforeEach(() => {
      ({ store, close } = open());
    });
    afterEach(() => close());

    const idempotent = <E extends HttpEvent>(
      handler: (event: E, context: Context) => Promise<unknown>,
      options: Partial<LambdaHttpOptions<E>> = {},
    ) => makeHttpIdempotent<E, Context, unknown>(handler, { store, scope: account, ...options });

    it("REST API: the first answer, then the same answer replayed, byte for byte; the handler runs once", async () => {
      let runs = 0;
      const handler = idempotent<APIGatewayProxyEvent>(async (event): Promise<APIGatewayProxyResult> => {
        runs++;
        return {
          statusCode: 201,
          headers: { "Content-Type": "application/json; charset=utf-8", Location: "/orders/o-1" },
          multiValueHeaders: { Vary: ["Accept", "Origin"], "Set-Cookie": ["cart=; Max-Age=0", "last=o-1"] },
          body: JSON.stringify({ id: "o-1", order: JSON.parse(event.body ?? "null"), note: "thé ☕" }),
        };
      });
      const key = newKey();
      const event = () =>
        restApiEvent({
          headers: [keyHeader(key), ["Content-Type", "application/json"]],
          body: '{"item":"book","qty":1}',
        });
      const first = (await handler(event(), fakeContext())) as LambdaHttpResult;
      expect(first).toMatchObject({ statusCode: 201, isBase64Encoded: false });
      expect(first.multiValueHeaders?.["set-cookie"]).toEqual(["cart=; Max-Age=0", "last=o-1"]);
      expect(JSON.parse(first.body)).toEqual({ id: "o-1", order: { item: "book", qty: 1 }, note: "thé ☕" });

      // The retry: the same request, as a client's retry reaches API Gateway again.
      const replay = await handler(event(), fakeContext());
      expect(replay).toEqual(replayOf(first, ["set-cookie"]));
      expect(runs).toBe(1);
    });

    it("HTTP API: cookies go out as cookies; the replay has the same body and stored headers, no cookies", async () => {
      let runs = 0;
      const handler = idempotent<APIGatewayProxyEventV2>(async () => {
        runs++;
        return {
          statusCode: 202,
          headers: { "content-type": "text/plain; charset=utf-8", "x-request-cost": 3 },
          cookies: ["session=s2; HttpOnly", "theme=dark"],
          body: "accepted: naïve café",
        };
      });
      const key = newKey();
      const event = () =>
        httpApiEvent({
          headers: [keyHeader(key)],
          cookies: ["session=s1"],
          query: [["dry", "no"]],
          body: "x=1",
        });
      const first = (await handler(event(), fakeContext())) as LambdaHttpResult;
      expect(first).toEqual({
        statusCode: 202,
        headers: { "content-type": "text/plain; charset=utf-8", "x-request-cost": "3" },
        cookies: ["session=s2; HttpOnly", "theme=dark"],
        body: "accepted: naïve café",
        isBase64Encoded: false,
      });
      expect(await handler(event(), fakeContext())).toEqual(replayOf(first, []));
      expect(runs).toBe(1);
    });

    it("function URL: a binary upload and a binary answer, replayed in the same base64", async () => {
      let runs = 0;
      const received: Uint8Array[] = [];
      const handler = idempotent<APIGatewayProxyEventV2>(async (event) => {
        runs++;
        received.push(Buffer.from(event.body ?? "", "base64"));
        return {
          statusCode: 200,
          headers: { "content-type": "image/png" },
          body: Buffer.from(PNG_BYTES).toString("base64"),
          isBase64Encoded: true,
        };
      });
      const key = newKey();
      const upload = () =>
        functionUrlEvent({ headers: [keyHeader(key), ["Content-Type", "image/png"]], body: PNG_BYTES });
      const first = (await handler(upload(), fakeContext())) as LambdaHttpResult;
      expect(first).toMatchObject({ statusCode: 200, isBase64Encoded: true });
      expect(Buffer.from(first.body, "base64")).toEqual(Buffer.from(PNG_BYTES));
      expect(await handler(upload(), fakeContext())).toEqual(replayOf(first, []));
      expect(received).toEqual([Buffer.from(PNG_BYTES)]);
      expect(runs).toBe(1);
    });

    it("two invocations at once with one key: one runs, the other gets 409", async () => {
      const held = gate();
      let runs = 0;
      const handler = idempotent<APIGatewayProxyEventV2>(async () => {
        runs++;
        await held.wait();
        return { statusCode: 201, body: "created" };
      });
      const event = httpApiEvent({ headers: [keyHeader(newKey())], body: "{}" });
      const both = [handler(event, fakeContext()), handler(event, fakeContext())];
      const conflict = (await Promise.race(both)) as LambdaHttpResult;
      expect(conflict).toMatchObject({ statusCode: 409, headers: { "retry-after": "1" } });
      expect(JSON.parse(conflict.body)).toMatchObject({ type: "urn:idemkit:problem:request-in-progress" });
      held.open();
      const statuses = (await Promise.all(both)).map((r) => (r as LambdaHttpResult).statusCode);
      expect(statuses.sort()).toEqual([201, 409]);
      expect(runs).toBe(1);
    });

    it("a handler that throws releases its key: the retry runs and is stored", async () => {
      let runs = 0;
      const handler = idempotent<APIGatewayProxyEvent>(async () => {
        runs++;
        if (runs === 1) throw new Error("downstream timeout");
        return { statusCode: 201, body: "second time" };
      });
      const event = restApiEvent({ headers: [keyHeader(newKey())], body: "{}" });
      await expect(handler(event, fakeContext())).rejects.toThrow("downstream timeout");
      expect(await handler(event, fakeContext())).toMatchObject({ statusCode: 201, body: "second time" });
      expect(await handler(event, fakeContext())).toMatchObject({
        statusCode: 201,
        headers: { "idempotent-replayed": "true" },
      });
      expect(runs).toBe(2);
    });

    it("an invocation that timed out holds its key until its deadline (plus the margin), not a lease longer", async () => {
      const held = gate();
      let runs = 0;
      const handler = idempotent<APIGatewayProxyEvent>(
        async () => {
          runs++;
          if (runs === 1) await held.wait(); // stands for an invocation Lambda stopped at its deadline
          return { statusCode: 201, body: `run ${runs}` };
        },
        { deadlineMarginMs: 50 },
      );
      const event = restApiEvent({ headers: [keyHeader(newKey())], body: "{}" });
      const timedOut = handler(event, fakeContext(500));
      await held.entered;
      // While it has time left, a retry is told to come back later.
      expect(await handler(event, fakeContext())).toMatchObject({ statusCode: 409 });
      // After its deadline the key is free again: the default lease (15 minutes) would hold it.
      const retried = await retryUntil(
        () => handler(event, fakeContext()) as Promise<LambdaHttpResult>,
        (r) => r.statusCode !== 409,
      );
      expect(retried).toMatchObject({ statusCode: 201, body: "run 2" });
      // Were the first invocation still running, its answer would be refused: the retry's is the key's.
      held.open();
      expect(await timedOut).toMatchObject({
        statusCode: 201,
        body: "run 2",
        headers: { "idempotent-replayed": "true" },
      });
      expect(runs).toBe(2);
    });
  });
}
