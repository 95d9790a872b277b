export {
  type FastifyIdempotencyOptions,
  type FastifyIdempotencyRouteOptions,
  idempotency,
} from "./plugin.js";
