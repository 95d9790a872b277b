import type { HandlerContext } from "@idemkit/core";
import { createParamDecorator, type ExecutionContext } from "@nestjs/common";

const contexts = new WeakMap<object, HandlerContext>();

export function setIdempotencyContext(request: object, context: HandlerContext): void {
  contexts.set(request, context);
}

/**
 * The idempotency key, fence and lease signal of a request running as its key's owner (`@Req()`'s
 * request); `undefined` when it passed through (not covered, or no key with `required: false`).
 */
export function idempotencyContext(request: object): HandlerContext | undefined {
  return contexts.get(request);
}

/** A route parameter: `@IdempotencyContext() idem: HandlerContext | undefined` (see `idempotencyContext`). */
export const IdempotencyContext = createParamDecorator((_data: unknown, context: ExecutionContext) =>
  idempotencyContext(context.switchToHttp().getRequest()),
);
