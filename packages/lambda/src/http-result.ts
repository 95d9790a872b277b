import { hasNullBody, type ResponseHeaders, type RouteResponse } from "@idemkit/core";
import { bodyBytes, type PayloadVersion } from "./http-event.js";
import type { LambdaHttpResult } from "./types.js";

/**
 * The two conversions of a response, each in one place: a handler's proxy result into the response core
 * stores (`routeResponseOf`), and a status, headers and body bytes into the proxy result Lambda returns
 * (`lambdaResult`): the first answer, every replay and every problem idemkit answers go through it,
 * so the first answer and its replays are alike to the byte.
 */

const encoder = new TextEncoder();
// Fatal: only bytes that are UTF-8 go out as text. The BOM kept, as the bytes have it.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * The handler's proxy result as core reads a route's response, or why it is not one (API Gateway would
 * answer it with a 5xx). Payload 2.0 also takes what API Gateway does: a result without `statusCode`
 * is a 200 whose JSON body is the result.
 */
export function routeResponseOf(result: unknown, version: PayloadVersion): RouteResponse | string {
  const structured =
    result !== null && typeof result === "object" && !Array.isArray(result) && "statusCode" in result;
  if (!structured) {
    if (version === "1.0") return "a REST API (payload 1.0) response needs a statusCode";
    let json: string | undefined;
    try {
      json = JSON.stringify(result === undefined ? null : result);
    } catch (error) {
      return `it cannot be serialized as JSON (${(error as Error).message})`;
    }
    return {
      status: 200,
      headers: { "content-type": "application/json" },
      body: encoder.encode(json ?? "null"),
    };
  }
  const fields = result as Record<string, unknown>;
  const status = fields.statusCode;
  if (typeof status !== "number" || !Number.isInteger(status)) return "its statusCode is not an integer";
  if (fields.body !== undefined && fields.body !== null && typeof fields.body !== "string") {
    return "its body is not a string";
  }
  const headers = version === "1.0" ? v1ResultHeaders(fields) : v2ResultHeaders(fields);
  return { status, headers, body: bodyBytes(fields.body, fields.isBase64Encoded === true) };
}

/**
 * API Gateway merges `headers` into `multiValueHeaders`: a value already listed under the name is not
 * repeated. Names are lower-cased (header names are case-insensitive), values kept as strings.
 */
function v1ResultHeaders(fields: Record<string, unknown>): ResponseHeaders {
  const headers = new Map<string, string[]>();
  const add = (name: string, value: unknown, unlessListed: boolean) => {
    if (value === undefined || value === null) return;
    const lower = name.toLowerCase();
    const text = String(value);
    const values = headers.get(lower);
    if (values === undefined) headers.set(lower, [text]);
    else if (!(unlessListed && values.includes(text))) values.push(text);
  };
  const multi = objectOrUndefined(fields.multiValueHeaders);
  for (const name in multi) {
    const values = multi[name];
    if (Array.isArray(values)) for (const value of values) add(name, value, false);
  }
  const single = objectOrUndefined(fields.headers);
  for (const name in single) add(name, single[name], true);
  // Own properties whatever the name (`constructor`, `__proto__` are header names too).
  return Object.fromEntries(headers);
}

/** Payload 2.0: `headers`, and `cookies`, each of which becomes a `Set-Cookie` header. */
function v2ResultHeaders(fields: Record<string, unknown>): ResponseHeaders {
  const headers = new Map<string, string[]>();
  const add = (name: string, value: unknown) => {
    if (value === undefined || value === null) return;
    const values = headers.get(name);
    if (values === undefined) headers.set(name, [String(value)]);
    else values.push(String(value));
  };
  const single = objectOrUndefined(fields.headers);
  for (const name in single) add(name.toLowerCase(), single[name]);
  if (Array.isArray(fields.cookies)) for (const cookie of fields.cookies) add("set-cookie", cookie);
  return Object.fromEntries(headers);
}

/** A route response's headers as pairs, in their order: for the first answer. */
export function headerPairs(headers: ResponseHeaders): [string, string][] {
  const pairs: [string, string][] = [];
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (typeof value === "object") for (const one of value) pairs.push([name, String(one)]);
    else pairs.push([name, String(value)]);
  }
  return pairs;
}

/** The proxy result for a status, headers and body, in the event's payload format (see `LambdaHttpResult`). */
export function lambdaResult(
  version: PayloadVersion,
  status: number,
  headers: readonly (readonly [string, string])[],
  body: Uint8Array,
): LambdaHttpResult {
  const sent = hasNullBody(status) ? new Uint8Array(0) : body;
  const text = utf8Text(sent);
  const result: LambdaHttpResult = {
    statusCode: status,
    headers: {},
    body: text ?? Buffer.from(sent.buffer, sent.byteOffset, sent.byteLength).toString("base64"),
    isBase64Encoded: text === undefined,
  };
  const byName = new Map<string, string[]>();
  for (const [name, value] of headers) {
    const values = byName.get(name);
    if (values === undefined) byName.set(name, [value]);
    else values.push(value);
  }
  if (version === "1.0") {
    const single = [...byName].filter(([, values]) => values.length === 1);
    result.headers = Object.fromEntries(single.map(([name, values]) => [name, values[0]!]));
    result.multiValueHeaders = Object.fromEntries(byName);
  } else {
    const cookies = byName.get("set-cookie");
    byName.delete("set-cookie");
    result.headers = Object.fromEntries([...byName].map(([name, values]) => [name, values.join(", ")]));
    if (cookies !== undefined) result.cookies = cookies;
  }
  return result;
}

function utf8Text(bytes: Uint8Array): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

function objectOrUndefined(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === "object" ? (value as Record<string, unknown>) : undefined;
}
