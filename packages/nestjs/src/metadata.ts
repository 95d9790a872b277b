/** The metadata key `@Idempotent()` sets on a route handler or controller. */
export const IDEMPOTENT_ROUTE = "idemkit:idempotent";
