// makeHttpIdempotent's answers that do not depend on the store (on the memory store): the same as
// every other integration's, in the proxy result shape.
import { createMemoryStore, type IdempotencyEvent } from "@idemkit/core";
import type { APIGatewayProxyEvent, Context } from "aws-lambda";
import { describe, expect, it } from "vitest";
import type { LambdaHttpOptions } from "./http-flow.js";
import { makeHttpIdempotent } from "./http-handler.js";
import { fakeContext } from "./testing/context.js";
import { httpApiEvent, restApiEvent } from "./testing/events.js";
import { unreachableStore } from "./testing/stores.js";
import type { IdempotencyContext, LambdaHttpResult } from "./types.js";

const problemOf = (result: unknown) => {
  const { statusCode, headers, body } = result as LambdaHttpResult;
  return { status: statusCode, contentType: headers["content-type"], ...JSON.parse(body) };
};

function created(options: Partial<LambdaHttpOptions<APIGatewayProxyEvent>> = {}) {
  const calls: (IdempotencyContext | undefined)[] = [];
  const handler = makeHttpIdempotent<APIGatewayProxyEvent, Context, APIGatewayProxyResult>(
    async (_event, _context, idempotency) => {
      calls.push(idempotency);
      return { statusCode: 201, headers: { "content-type": "application/json" }, body: '{"ok":true}' };
    },
    {
      store: createMemoryStore(),
      scope: (event) => event.requestContext.authorizer?.claims?.sub,
      ...options,
    },
  );
  return { handler, calls };
}
type APIGatewayProxyResult = import("aws-lambda").APIGatewayProxyResult;

const post = (
  key: string | undefined,
  body = '{"item":"book"}',
  extra: Parameters<typeof restApiEvent>[0] = {},
) => restApiEvent({ headers: key === undefined ? [] : [["Idempotency-Key", key]], body, ...extra });

describe("makeHttpIdempotent's own answers", () => {
  it("400 without a key, 400 for a malformed one; the handler does not run", async () => {
    const { handler, calls } = created();
    expect(problemOf(await handler(post(undefined), fakeContext()))).toMatchObject({
      status: 400,
      contentType: "application/problem+json",
      type: "urn:idemkit:problem:key-missing",
    });
    expect(problemOf(await handler(post("bad\u0001key"), fakeContext()))).toMatchObject({
      status: 400,
      type: "urn:idemkit:problem:key-invalid",
    });
    expect(calls).toEqual([]);
  });

  it("422 for the key reused with another body, and with another path", async () => {
    const { handler } = created();
    await handler(post("k-422"), fakeContext());
    expect(problemOf(await handler(post("k-422", '{"item":"pen"}'), fakeContext()))).toMatchObject({
      status: 422,
      type: "urn:idemkit:problem:key-reused",
    });
    const elsewhere = post("k-422", '{"item":"book"}', { path: "/refunds" });
    expect(problemOf(await handler(elsewhere, fakeContext()))).toMatchObject({ status: 422 });
  });

  it("JSON bodies are the same request whatever their key order or spacing", async () => {
    const { handler, calls } = created();
    const json = (body: string) =>
      post("k-json", body, {
        headers: [
          ["Idempotency-Key", "k-json"],
          ["Content-Type", "application/json"],
        ],
      });
    await handler(json('{"a":1,"b":[1,2]}'), fakeContext());
    expect(await handler(json('{ "b": [1, 2], "a": 1 }'), fakeContext())).toMatchObject({ statusCode: 201 });
    expect(calls).toHaveLength(1);
  });

  it("413 for a body over maxRequestBytes, base64 bodies measured decoded", async () => {
    const { handler, calls } = created({ maxRequestBytes: 8 });
    expect(problemOf(await handler(post("k-413", "123456789"), fakeContext()))).toMatchObject({
      status: 413,
      type: "urn:idemkit:problem:request-too-large",
    });
    // 8 bytes, 12 characters of base64: within the cap.
    const binary = post("k-413b", "", { body: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]) });
    expect(await handler(binary, fakeContext())).toMatchObject({ statusCode: 201 });
    expect(calls).toHaveLength(1);
  });

  it("503 when the store cannot be reached (the handler does not run), with Retry-After", async () => {
    const { handler, calls } = created({ store: unreachableStore(), storeTimeoutMs: 200 });
    const answer = (await handler(post("k-503"), fakeContext())) as LambdaHttpResult;
    expect(problemOf(answer)).toMatchObject({ status: 503, type: "urn:idemkit:problem:store-unavailable" });
    expect(answer.headers["retry-after"]).toBe("2");
    expect(calls).toEqual([]);
  });

  it("400 when the scope cannot tell the caller: never a key space shared with others", async () => {
    const { handler } = created();
    const anonymous = post("k-anon");
    anonymous.requestContext.authorizer = null;
    expect(problemOf(await handler(anonymous, fakeContext()))).toMatchObject({
      status: 400,
      type: "urn:idemkit:problem:scope-missing",
    });
  });

  it("one key, two callers: each runs once, neither sees the other's answer", async () => {
    const { handler, calls } = created();
    await handler(
      post("k-shared", "{}", { account: "acct-a", headers: [["Idempotency-Key", "k-shared"]] }),
      fakeContext(),
    );
    const other = await handler(
      post("k-shared", "{}", { account: "acct-b", headers: [["Idempotency-Key", "k-shared"]] }),
      fakeContext(),
    );
    expect((other as LambdaHttpResult).headers["idempotent-replayed"]).toBeUndefined();
    expect(calls).toHaveLength(2);
  });

  it("renderProblem shapes the answers, as in every integration", async () => {
    const { handler } = created({
      renderProblem: (p) => ({
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ error: { code: p.type, message: p.detail } }),
      }),
    });
    const answer = (await handler(post(undefined), fakeContext())) as LambdaHttpResult;
    expect(answer.statusCode).toBe(400);
    expect(JSON.parse(answer.body)).toEqual({ error: { code: "key-missing", message: expect.any(String) } });
  });

  it("GET, a warm-up ping and a queue event reach the handler untouched, without a context too", async () => {
    const { handler, calls } = created();
    const get = restApiEvent({ method: "GET", path: "/orders/o-1" });
    expect(await handler(get, undefined as unknown as Context)).toMatchObject({ statusCode: 201 });
    const ping = { source: "serverless-plugin-warmup" } as unknown as APIGatewayProxyEvent;
    expect(await handler(ping, fakeContext())).toMatchObject({ statusCode: 201 });
    expect(calls).toEqual([undefined, undefined]);
  });

  it("a covered request without the Lambda context is refused before anything is claimed", async () => {
    const { handler, calls } = created();
    await expect(handler(post("k-ctx"), {} as Context)).rejects.toThrow(/needs the Lambda context/);
    expect(calls).toEqual([]);
  });

  it("the handler learns its key and fence", async () => {
    const { handler, calls } = created();
    await handler(post("k-ctx2"), fakeContext());
    expect(calls[0]).toMatchObject({ key: "k-ctx2", fence: 1 });
    expect(calls[0]?.signal).toBeInstanceOf(AbortSignal);
  });

  it("a 5xx is not stored: the key is released and the retry runs", async () => {
    let runs = 0;
    const handler = makeHttpIdempotent(async () => ({ statusCode: runs++ === 0 ? 503 : 201, body: "" }), {
      store: createMemoryStore(),
      scope: "global",
    });
    const event = post("k-5xx");
    expect(await handler(event, fakeContext())).toMatchObject({ statusCode: 503 });
    expect(await handler(event, fakeContext())).toMatchObject({ statusCode: 201 });
    expect(runs).toBe(2);
  });

  it("a REST API result without statusCode is answered 500 (response-invalid) and its key released", async () => {
    let runs = 0;
    const handler = makeHttpIdempotent<APIGatewayProxyEvent, Context, unknown>(
      async () => (runs++ === 0 ? { ok: true } : { statusCode: 200, body: "fixed" }),
      { store: createMemoryStore(), scope: "global" },
    );
    const event = post("k-invalid");
    expect(problemOf(await handler(event, fakeContext()))).toMatchObject({
      status: 500,
      type: "urn:idemkit:problem:response-invalid",
    });
    expect(await handler(event, fakeContext())).toMatchObject({ statusCode: 200, body: "fixed" });
  });

  it("an HTTP API result without statusCode is stored as API Gateway sends it: 200, JSON", async () => {
    const handler = makeHttpIdempotent(async () => ({ id: "o-9" }), {
      store: createMemoryStore(),
      scope: "global",
    });
    const event = httpApiEvent({ headers: [["Idempotency-Key", "k-json-result"]], body: "{}" });
    const first = await handler(event, fakeContext());
    expect(first).toEqual({
      statusCode: 200,
      headers: { "content-type": "application/json" },
      body: '{"id":"o-9"}',
      isBase64Encoded: false,
    });
    expect(await handler(event, fakeContext())).toMatchObject({
      body: '{"id":"o-9"}',
      headers: { "idempotent-replayed": "true" },
    });
  });

  it("events name the route template and the outcome", async () => {
    const seen: IdempotencyEvent[] = [];
    const { handler } = created({ onEvent: (event) => seen.push(event) });
    const event = post("k-events", "{}", { path: "/orders" });
    event.resource = "/orders";
    await handler(event, fakeContext());
    const finished = seen.find((e) => e.type === "finished") as Record<string, unknown> | undefined;
    expect(finished).toMatchObject({
      outcome: "executed",
      http: { method: "POST", route: "/orders", status: 201 },
    });
  });
});
