import { describe, expect, it } from "vitest";
import { httpRequestOf, routeOf } from "./http-event.js";
import { functionUrlEvent, httpApiEvent, PNG_BYTES, restApiEvent } from "./testing/events.js";

const read = async (event: unknown) => {
  const request = httpRequestOf(event)!;
  const { body } = request.exchange;
  return {
    version: request.version,
    method: request.exchange.method,
    target: request.exchange.target,
    header: request.exchange.header,
    body: body.kind === "stream" ? await body.read(1 << 20) : body,
  };
};

describe("an API Gateway event as core reads it", () => {
  it("REST API (1.0): headers by any case, every value of a repeated header, the query put back", async () => {
    const event = restApiEvent({
      path: "/orders",
      headers: [
        ["Idempotency-Key", "k-1"],
        ["Content-Type", "application/json"],
        ["X-Tag", "a"],
        ["X-Tag", "b"],
      ],
      query: [
        ["source", "mobile app"],
        ["tag", "a"],
        ["tag", "b&c"],
      ],
      body: '{"item":"book"}',
    });
    const request = await read(event);
    expect(request.version).toBe("1.0");
    expect(request.method).toBe("POST");
    expect(request.target).toBe("/orders?source=mobile%20app&tag=a&tag=b%26c");
    expect(request.header("idempotency-key")).toBe("k-1");
    expect(request.header("x-tag")).toBe("a, b"); // `headers` alone says only "b"
    expect(new TextDecoder().decode(request.body as Uint8Array)).toBe('{"item":"book"}');
  });

  it("REST API (1.0) with only `headers` (a hand-made event), and no query", async () => {
    const event = { httpMethod: "post", path: "/orders", headers: { "IDEMPOTENCY-KEY": "k-2" }, body: null };
    const request = await read(event);
    expect(request.method).toBe("POST");
    expect(request.target).toBe("/orders");
    expect(request.header("idempotency-key")).toBe("k-2");
    expect(request.body).toEqual(new Uint8Array(0));
  });

  it("HTTP API (2.0): the raw query, cookies as the Cookie header, a base64 body decoded", async () => {
    const event = httpApiEvent({
      headers: [["Idempotency-Key", "k-3"]],
      query: [
        ["tag", "a"],
        ["tag", "b"],
      ],
      cookies: ["session=s1", "theme=dark"],
      body: PNG_BYTES,
    });
    const request = await read(event);
    expect(request.version).toBe("2.0");
    expect(request.target).toBe("/orders?tag=a&tag=b");
    expect(request.header("cookie")).toBe("session=s1; theme=dark");
    expect(request.body).toEqual(Buffer.from(PNG_BYTES));
  });

  it("a function URL event is read as payload 2.0", async () => {
    const request = await read(functionUrlEvent({ headers: [["Idempotency-Key", "k-4"]], body: "text" }));
    expect(request.version).toBe("2.0");
    expect(request.target).toBe("/uploads");
    expect(request.header("idempotency-key")).toBe("k-4");
    expect(new TextDecoder().decode(request.body as Uint8Array)).toBe("text");
  });

  it("a body a Middy body parser already parsed is fingerprinted as the parsed value", async () => {
    const event = { ...httpApiEvent(), body: { item: "book" } };
    expect(await read(event)).toMatchObject({ body: { kind: "parsed", value: { item: "book" } } });
  });

  it("a body over the cap reads as too large", async () => {
    const body = httpRequestOf(restApiEvent({ body: "x".repeat(100) }))!.exchange.body;
    expect(body.kind === "stream" && (await body.read(99))).toBeUndefined();
  });

  it("events of other kinds are no HTTP events", () => {
    for (const event of [
      undefined,
      null,
      "ping",
      { source: "serverless-plugin-warmup" },
      { Records: [] },
      { requestContext: { eventType: "MESSAGE", connectionId: "c" }, body: "x" },
      { httpMethod: 1, path: "/" },
    ]) {
      expect(httpRequestOf(event)).toBeUndefined();
    }
  });

  it("malformed header and query fields are skipped, never thrown on", async () => {
    const event = {
      httpMethod: "POST",
      path: "/orders",
      headers: { "Idempotency-Key": 7, Accept: "*/*" },
      multiValueHeaders: { "X-List": "not a list", "X-Ok": ["1", 2] },
      multiValueQueryStringParameters: { a: null, b: ["1"] },
      body: 42,
    };
    const request = await read(event);
    expect(request.header("idempotency-key")).toBeUndefined();
    expect(request.header("accept")).toBe("*/*");
    expect(request.header("x-ok")).toBe("1");
    expect(request.target).toBe("/orders?b=1");
  });
});

describe("the route template, for events", () => {
  it("is a REST API's resource, an HTTP API's route key without its method, none for $default", () => {
    expect(routeOf({ ...restApiEvent(), resource: "/orders/{id}" })).toBe("/orders/{id}");
    expect(routeOf({ ...httpApiEvent(), routeKey: "POST /orders/{id}" })).toBe("/orders/{id}");
    expect(routeOf({ ...httpApiEvent(), routeKey: "ANY /{proxy+}" })).toBe("/{proxy+}");
    expect(routeOf(functionUrlEvent())).toBeUndefined();
    expect(routeOf(null)).toBeUndefined();
  });
});
