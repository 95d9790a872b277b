import "reflect-metadata";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { HandlerContext, IdempotentHandler, Scope } from "@idemkit/core";
import type { INestApplication, LoggerService, Type } from "@nestjs/common";
import { NestFactory } from "@nestjs/core";
import { ExpressAdapter } from "@nestjs/platform-express";
import { FastifyAdapter } from "@nestjs/platform-fastify";
import type { FastifyReply, FastifyRequest } from "fastify";
import { headersOf, webRequestOf, writeThrough } from "./web-route.js";

/**
 * Test glue for @idemkit/nestjs: a Nest application on either platform, listening on loopback, and
 * the behaviour suite's Web handlers run from a Nest route. Not part of any package.
 */
export type Platform = "express" | "fastify";
export const PLATFORMS: readonly Platform[] = ["express", "fastify"];

/** Starts `module` as a Nest app on `platform` on 127.0.0.1; `close` it when done. */
export async function startNest(
  platform: Platform,
  module: Type<unknown>,
  prepare: (app: INestApplication) => void = () => {},
  errors?: unknown[],
): Promise<{ app: INestApplication; origin: string }> {
  const adapter = platform === "express" ? new ExpressAdapter() : new FastifyAdapter();
  // Errors Nest logs are collected when asked for (a reply sent twice is logged as one), else dropped.
  const logger = errors ? errorCollector(errors) : false;
  // abortOnError false: a configuration error rejects here instead of ending the process.
  const app = await NestFactory.create(module, adapter, { logger, abortOnError: false });
  prepare(app);
  await app.listen(0, "127.0.0.1");
  const address = app.getHttpServer().address() as { port: number };
  return { app, origin: `http://127.0.0.1:${address.port}` };
}

function errorCollector(errors: unknown[]): LoggerService {
  const ignore = () => {};
  return { log: ignore, warn: ignore, debug: ignore, verbose: ignore, error: (error) => errors.push(error) };
}

/** The node:http request under a platform's request (Fastify wraps it). */
export function nodeRequest(request: unknown): IncomingMessage & { body?: unknown; originalUrl?: string } {
  const raw = (request as { raw?: IncomingMessage }).raw;
  return (raw ?? request) as IncomingMessage;
}

/** The suite's scope (a Web `Request` function, or "global") for the platform's request. */
export function nestScope(scope: Scope<Request> | undefined): Scope<unknown> | undefined {
  if (scope === undefined || scope === "global") return scope;
  return (request) => {
    const req = nodeRequest(request);
    return scope(new Request(`http://${req.headers.host}${req.url}`, { headers: headersOf(req) }));
  };
}

const passedThrough = (): HandlerContext => ({
  key: undefined,
  fence: undefined,
  signal: new AbortController().signal,
});

/**
 * Runs the suite's Web handler as a Nest route that writes node's response in pieces (`@Res()`; on
 * Fastify, `reply.raw` after `reply.hijack()`): its head goes out before its body, as the suite's
 * routes assume (a body that fails after it is a response cut short). Nest-specific tests cover
 * routes that return their value for Nest (and Fastify) to serialize.
 */
export async function runWebHandler(
  handler: IdempotentHandler,
  request: unknown,
  response: unknown,
  context: HandlerContext | undefined,
): Promise<void> {
  const req = nodeRequest(request);
  const reply = response as Partial<FastifyReply>;
  if (reply.raw) {
    // Fastify parsed the body: the suite's request is made from its value.
    const { body } = request as FastifyRequest;
    req.body = typeof body === "string" ? Buffer.from(body) : body;
  }
  const web = await handler(await webRequestOf(req), context ?? passedThrough());
  reply.hijack?.(); // the route writes node's response itself from here on
  await writeThrough((reply.raw ?? response) as ServerResponse, web);
}
