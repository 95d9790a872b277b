import { describe, expect, it } from "vitest";
import { headerPairs, lambdaResult, routeResponseOf } from "./http-result.js";
import { PNG_BYTES } from "./testing/events.js";

const utf8 = (text: string) => new TextEncoder().encode(text);

describe("a handler's proxy result as core stores it", () => {
  it("1.0: headers merged into multiValueHeaders (a value listed there is not repeated), names lower-cased", () => {
    const response = routeResponseOf(
      {
        statusCode: 201,
        headers: { "Content-Type": "application/json", "X-Tag": "a", "X-Count": 3 },
        multiValueHeaders: { "x-tag": ["a", "b"], "Set-Cookie": ["a=1", "b=2"] },
        body: '{"id":1}',
      },
      "1.0",
    );
    expect(response).toEqual({
      status: 201,
      headers: {
        "x-tag": ["a", "b"],
        "set-cookie": ["a=1", "b=2"],
        "content-type": ["application/json"],
        "x-count": ["3"],
      },
      body: utf8('{"id":1}'),
    });
  });

  it("2.0: cookies become Set-Cookie headers; a base64 body is decoded", () => {
    const response = routeResponseOf(
      {
        statusCode: 200,
        headers: { "content-type": "image/png" },
        cookies: ["a=1; Path=/", "b=2"],
        body: Buffer.from(PNG_BYTES).toString("base64"),
        isBase64Encoded: true,
      },
      "2.0",
    );
    expect(response).toEqual({
      status: 200,
      headers: { "content-type": ["image/png"], "set-cookie": ["a=1; Path=/", "b=2"] },
      body: Buffer.from(PNG_BYTES),
    });
  });

  it("2.0: a result without statusCode is a 200 with the result as its JSON body, as API Gateway makes it", () => {
    expect(routeResponseOf({ id: 1 }, "2.0")).toEqual({
      status: 200,
      headers: { "content-type": "application/json" },
      body: utf8('{"id":1}'),
    });
    expect(routeResponseOf("done", "2.0")).toMatchObject({ body: utf8('"done"') });
    expect(routeResponseOf(undefined, "2.0")).toMatchObject({ body: utf8("null") });
  });

  it("says why a result is not a proxy result", () => {
    expect(routeResponseOf({ id: 1 }, "1.0")).toMatch(/needs a statusCode/);
    expect(routeResponseOf({ statusCode: "200", body: "" }, "1.0")).toMatch(/statusCode is not an integer/);
    expect(routeResponseOf({ statusCode: 200, body: { id: 1 } }, "2.0")).toMatch(/body is not a string/);
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(routeResponseOf(cycle, "2.0")).toMatch(/cannot be serialized as JSON/);
    expect(routeResponseOf(10n, "2.0")).toMatch(/cannot be serialized as JSON/);
  });

  it("header names that are also Object.prototype's stay plain headers", () => {
    const result = JSON.parse(
      '{"statusCode":200,"headers":{"constructor":"c","__proto__":"p","toString":"t"}}',
    );
    for (const version of ["1.0", "2.0"] as const) {
      const response = routeResponseOf(result, version);
      const pairs: [string, string][] = [
        ["constructor", "c"],
        ["__proto__", "p"],
        ["tostring", "t"],
      ];
      expect(typeof response === "object" && headerPairs(response.headers)).toEqual(pairs);
      const sent = lambdaResult(version, 200, pairs, new Uint8Array(0));
      expect(Object.entries(sent.headers)).toEqual(pairs);
    }
  });
});

describe("the proxy result idemkit returns", () => {
  const headers: [string, string][] = [
    ["content-type", "application/json"],
    ["set-cookie", "a=1"],
    ["set-cookie", "b=2"],
    ["vary", "accept"],
    ["vary", "origin"],
  ];

  it("1.0: names sent once in headers, every name in multiValueHeaders", () => {
    expect(lambdaResult("1.0", 201, headers, utf8('{"id":1}'))).toEqual({
      statusCode: 201,
      headers: { "content-type": "application/json" },
      multiValueHeaders: {
        "content-type": ["application/json"],
        "set-cookie": ["a=1", "b=2"],
        vary: ["accept", "origin"],
      },
      body: '{"id":1}',
      isBase64Encoded: false,
    });
  });

  it("2.0: repeated names comma-joined, Set-Cookie as cookies", () => {
    expect(lambdaResult("2.0", 201, headers, utf8("ok"))).toEqual({
      statusCode: 201,
      headers: { "content-type": "application/json", vary: "accept, origin" },
      cookies: ["a=1", "b=2"],
      body: "ok",
      isBase64Encoded: false,
    });
  });

  it("bytes that are not UTF-8 go out base64; UTF-8 (a BOM, a NUL, emoji included) as text", () => {
    const png = lambdaResult("2.0", 200, [], PNG_BYTES);
    expect(png).toMatchObject({ isBase64Encoded: true, body: Buffer.from(PNG_BYTES).toString("base64") });
    const text = "\uFEFFé\u0000🙂";
    expect(lambdaResult("1.0", 200, [], utf8(text))).toMatchObject({ isBase64Encoded: false, body: text });
  });

  it("a status without a body sends none", () => {
    expect(lambdaResult("1.0", 204, [], utf8("ignored"))).toMatchObject({ statusCode: 204, body: "" });
  });
});
