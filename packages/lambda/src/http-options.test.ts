// makeHttpIdempotent's options, checked when the handler is made, and its types.
import { createMemoryStore } from "@idemkit/core";
import type {
  APIGatewayProxyEvent,
  APIGatewayProxyEventV2,
  APIGatewayProxyHandler,
  APIGatewayProxyHandlerV2,
  LambdaFunctionURLHandler,
} from "aws-lambda";
import { describe, expect, it } from "vitest";
import { makeHttpIdempotent } from "./http-handler.js";

describe("makeHttpIdempotent", () => {
  it("options are checked when the handler is made", () => {
    const store = createMemoryStore();
    expect(() => makeHttpIdempotent(async () => ({ statusCode: 200, body: "" }), { store } as never)).toThrow(
      /scope/,
    );
    expect(() =>
      makeHttpIdempotent(async () => ({ statusCode: 200, body: "" }), {
        store,
        scope: "global",
        deadlineMarginMs: -1,
      }),
    ).toThrow(RangeError);
    expect(() =>
      makeHttpIdempotent(async () => ({ statusCode: 200, body: "" }), {
        store,
        scope: "global",
        leaseMS: 5,
      } as never),
    ).toThrow(/leaseMS/);
    expect(() =>
      makeHttpIdempotent(async () => ({ statusCode: 200, body: "" }), { scope: "global" } as never),
    ).toThrow(/store/);
    expect(() => makeHttpIdempotent("handler" as never, { store, scope: "global" })).toThrow(TypeError);
  });

  it("fits the handler types of @types/aws-lambda", () => {
    const rest: APIGatewayProxyHandler = makeHttpIdempotent(
      async (event: APIGatewayProxyEvent) => ({ statusCode: 200, body: event.path }),
      { store: createMemoryStore(), scope: "global" },
    );
    const http: APIGatewayProxyHandlerV2 = makeHttpIdempotent(
      async (event: APIGatewayProxyEventV2) => ({ statusCode: 200, body: event.rawPath }),
      {
        store: createMemoryStore(),
        scope: (event) => event.requestContext.accountId,
      },
    );
    const url: LambdaFunctionURLHandler<{ uploaded: boolean }> = makeHttpIdempotent(
      async () => ({ uploaded: true }),
      {
        store: createMemoryStore(),
        scope: "global",
      },
    );
    expect([typeof rest, typeof http, typeof url]).toEqual(["function", "function", "function"]);
  });
});
