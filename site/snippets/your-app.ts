/**
 * Stand-ins for your application's own code, so that every sample in the guides type-checks: your
 * authentication, your business logic, your clients. Nothing here is part of idemkit.
 */
import type { IncomingMessage } from "node:http";
import type { IdempotencyStore } from "@idemkit/core";
import type { Request as ExpressRequest, Response as ExpressResponse, NextFunction } from "express";
import type { FastifyRequest } from "fastify";

export interface Order {
  id: string;
  item: string;
  quantity: number;
}

/** The account the caller authenticated as (an id that never rotates), or `undefined` if unknown. */
export declare function accountIdOf(
  request: Request | IncomingMessage | ExpressRequest | FastifyRequest,
): string | undefined;

/** Your Express authentication middleware (it runs before idemkit, so `scope` knows the caller). */
export declare function authenticate(req: ExpressRequest, res: ExpressResponse, next: NextFunction): void;

/** Your business logic: creates an order. `fence` goes downstream (see "How it works"). */
export declare function createOrder(
  input: unknown,
  options?: { fence?: number | undefined; signal?: AbortSignal },
): Promise<Order>;

/** A payment provider call. */
export declare function chargeCard(input: unknown, fence?: number): Promise<{ chargeId: string }>;

/** A message from your queue. */
export interface QueueMessage {
  id: string;
  body: { orderId: string; amount: number };
}

/** A store you wrote for your own backend (see "Writing your own store"). */
export declare function createMyStore(options: { url: string | undefined }): IdempotencyStore;
