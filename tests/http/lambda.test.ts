// The shared HTTP behaviour suite through @idemkit/lambda's makeHttpIdempotent (from its source, with its
// test fixtures), as API
// Gateway's HTTP API (payload 2.0) would call it: each Web Request the suite sends becomes an event,
// the suite's Web handler runs inside a Lambda handler, and the proxy result becomes the Response the
// client would get. A handler that throws is a failed invocation, which API Gateway answers 500.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createMemoryStore, type HandlerContext } from "@idemkit/core";
import { createSqliteStore, type SqliteStore } from "@idemkit/sqlite";
import { afterAll } from "vitest";
import { makeHttpIdempotent } from "../../packages/lambda/src/http-handler.js";
import { fakeContext } from "../../packages/lambda/src/testing/context.js";
import { httpApiEvent } from "../../packages/lambda/src/testing/events.js";
import type { LambdaHttpResult } from "../../packages/lambda/src/types.js";
import { describeHttpBehaviour, type HttpBehaviourTarget } from "./behaviour-suite.js";

type V2Event = ReturnType<typeof httpApiEvent>;

async function eventOf(request: Request): Promise<V2Event> {
  const url = new URL(request.url);
  const bytes = new Uint8Array(await request.arrayBuffer());
  return httpApiEvent({
    method: request.method,
    path: url.pathname,
    headers: [...request.headers],
    query: [...url.searchParams],
    ...(bytes.length > 0 && { body: bytes, base64: true }),
  });
}

function requestOf(event: V2Event): Request {
  const query = event.rawQueryString ? `?${event.rawQueryString}` : "";
  const method = event.requestContext.http.method;
  const body =
    event.body === undefined ? undefined : Buffer.from(event.body, event.isBase64Encoded ? "base64" : "utf8");
  return new Request(`https://${event.requestContext.domainName}${event.rawPath}${query}`, {
    method,
    headers: Object.entries(event.headers).filter(
      (entry): entry is [string, string] => entry[1] !== undefined,
    ),
    ...(body !== undefined && method !== "GET" && method !== "HEAD" && { body }),
  });
}

async function resultOf(response: Response): Promise<LambdaHttpResult> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    if (name !== "set-cookie") headers[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  const body = Buffer.from(await response.arrayBuffer());
  return {
    statusCode: response.status,
    headers,
    ...(cookies.length > 0 && { cookies }),
    body: body.toString("base64"),
    isBase64Encoded: true,
  };
}

function responseOf(result: LambdaHttpResult): Response {
  const headers = new Headers(result.headers);
  for (const cookie of result.cookies ?? []) headers.append("set-cookie", cookie);
  const body = Buffer.from(result.body, result.isBase64Encoded ? "base64" : "utf8");
  const empty = result.statusCode === 204 || result.statusCode === 304;
  return new Response(empty ? null : body, { status: result.statusCode, headers });
}

// The suite's scope and fingerprint read a Web Request; Lambda's read the event.
type WebRead = (request: Request, ...rest: never[]) => unknown;
const onEvent = (read: unknown) =>
  typeof read === "function"
    ? (event: V2Event, ...rest: never[]) => (read as WebRead)(requestOf(event), ...rest)
    : read;

const mount: HttpBehaviourTarget["mount"] = (options, handler) => {
  const lambda = makeHttpIdempotent<V2Event, ReturnType<typeof fakeContext>, LambdaHttpResult>(
    async (event, _context, idempotency) => {
      // Passed through (no key, an uncovered method): the context core's Web handler gives then.
      const context = idempotency ?? {
        key: undefined,
        fence: undefined,
        signal: new AbortController().signal,
      };
      return resultOf(await handler(requestOf(event), context as HandlerContext));
    },
    {
      ...options,
      scope: onEvent(options.scope),
      fingerprint: onEvent(options.fingerprint),
    } as Parameters<typeof makeHttpIdempotent>[1],
  );
  return async (request) => {
    try {
      return responseOf((await lambda(await eventOf(request), fakeContext())) as LambdaHttpResult);
    } catch {
      return new Response('{"message":"Internal Server Error"}', { status: 500 });
    }
  };
};

// Lambda's buffered invocations answer whole: nothing streams through, and a body cannot fail mid-way.
const noStreaming = "Lambda answers with a whole proxy result (response streaming is not supported)";

describeHttpBehaviour({
  name: "Lambda (HTTP API) on the memory store",
  createStore: createMemoryStore,
  mount,
  noStreaming,
});

const dir = mkdtempSync(join(tmpdir(), "idemkit-lambda-http-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
describeHttpBehaviour({
  name: "Lambda (HTTP API) on the SQLite store",
  createStore: () => createSqliteStore({ database: join(dir, "keys.db") }),
  closeStore: (store) => (store as SqliteStore).close(),
  mount,
  noStreaming,
});
