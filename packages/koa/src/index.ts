export { type IdempotencyState, idempotency, type KoaIdempotencyOptions } from "./middleware.js";
