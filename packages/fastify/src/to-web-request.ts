import { canonicalJson } from "@idemkit/core";
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
  return new Request(url, { method, headers, body: hasBody ? bodyOf(request.body) : null });
}

function bodyOf(body: unknown): BodyInit {
  if (typeof body === "string") return body;
  if (body instanceof Uint8Array) return body as Uint8Array<ArrayBuffer>;
  return canonicalJson(body);
}
