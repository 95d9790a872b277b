export {
  type HonoIdempotencyOptions,
  type IdempotencyEnv,
  type IdempotencyVariables,
  idempotency,
} from "./middleware.js";
