export { type ExpressIdempotencyOptions, idempotency } from "./middleware.js";
