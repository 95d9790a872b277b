import { applyDecorators, Inject, SetMetadata, UseInterceptors } from "@nestjs/common";
import { IdempotencyInterceptor } from "./interceptor.js";
import { IDEMPOTENT_ROUTE } from "./metadata.js";
import type { IdempotentOptions } from "./options.js";
import { IDEMPOTENCY } from "./tokens.js";

/**
 * Makes a route (or every route of a controller) idempotent: covered methods (POST and PATCH unless
 * `methods` says otherwise) need an `Idempotency-Key` and run once per key; retries get the stored
 * response. `options` override the module's for this route: any HTTP option (`methods`,
 * `maxResponseBytes`, `scope`, …) and lease or retention settings (`leaseMs`, `retentionMs`, …).
 * `@Idempotent(false)` leaves one route of an idempotent controller out.
 */
export function Idempotent(options: IdempotentOptions | false = {}): ClassDecorator & MethodDecorator {
  if (options === false) return SetMetadata(IDEMPOTENT_ROUTE, false);
  return applyDecorators(SetMetadata(IDEMPOTENT_ROUTE, options), UseInterceptors(IdempotencyInterceptor));
}

/** Injects the module's idemkit instance (`Idempotency`): `run()` and `execute()` for work outside HTTP. */
export const InjectIdempotency = (): PropertyDecorator & ParameterDecorator => Inject(IDEMPOTENCY);
