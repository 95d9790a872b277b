import { attachBodyBytes, canonicalJson } from "@idemkit/core";
import type { FastifyRequest } from "fastify";

/**
 * The Web `Request` idemkit sees for a Fastify request. The body is the one Fastify already parsed,
 * never read or parsed again: bytes and strings as they are, parsed values as canonical JSON (the
 * same fingerprint whatever the key order).
 */
export function toWebRequest(request: FastifyRequest): Request {
  const headers = new Headers();
  const raw = request.raw.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  const url = new URL(request.url, `${request.protocol}://${request.host || "localhost"}`);
  const method = request.method;
  const hasBody = method !== "GET" && method !== "HEAD" && request.body != null;
  // No Web stream body: the bytes ride along for core (attachBodyBytes).
  return attachBodyBytes(new Request(url, { method, headers }), hasBody ? bytesOf(request.body) : EMPTY);
}

export const EMPTY = new Uint8Array(0);

function bytesOf(body: unknown): Uint8Array {
  if (body instanceof Uint8Array) return body;
  return Buffer.from(typeof body === "string" ? body : canonicalJson(body));
}
