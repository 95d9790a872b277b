import { IncomingMessage, ServerResponse } from "node:http";
import type { ResponseHeaders } from "@idemkit/core";

/**
 * What Nest hands an interceptor, seen from node:http. Express's request and response are node's own
 * objects (extended); Fastify's wrap them (`request.raw`, `reply.raw`). idemkit reads the request and
 * captures the response there, on both platforms, so what it stores is the bytes the client gets.
 */
export interface NodeObjects {
  req: IncomingMessage;
  res: ServerResponse;
}

interface FastifyLike {
  raw?: unknown;
  getHeaders?: () => ResponseHeaders;
  hijack?: () => void;
}

export function nodeObjects(request: unknown, response: unknown): NodeObjects | undefined {
  const req = request instanceof IncomingMessage ? request : (request as FastifyLike | null)?.raw;
  const res = response instanceof ServerResponse ? response : (response as FastifyLike | null)?.raw;
  if (req instanceof IncomingMessage && res instanceof ServerResponse) return { req, res };
  return undefined;
}

/**
 * The headers a Fastify reply already has (set by hooks such as `@fastify/cors`, or by `@Header()`):
 * Fastify keeps them on the reply until it sends. `undefined` on Express, whose headers are on `res`.
 */
export function replyHeaders(response: unknown): (() => ResponseHeaders) | undefined {
  if (response instanceof ServerResponse) return undefined;
  const reply = response as FastifyLike;
  return typeof reply.getHeaders === "function" ? () => reply.getHeaders!() : undefined;
}

/** Before idemkit writes to node's response itself: Fastify is told to leave the reply alone. */
export function takeOver(response: unknown): void {
  if (response instanceof ServerResponse) return;
  const reply = response as FastifyLike;
  if (typeof reply.hijack === "function") reply.hijack();
}

/** Node's response behind what Nest's adapter is handed. */
export function nodeResponse(response: unknown): unknown {
  return response instanceof ServerResponse ? response : ((response as FastifyLike | null)?.raw ?? response);
}
