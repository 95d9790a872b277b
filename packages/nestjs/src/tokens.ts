/** The injection token of the module's idemkit instance (see `InjectIdempotency`). */
export const IDEMPOTENCY = Symbol.for("@idemkit/nestjs:idempotency");
