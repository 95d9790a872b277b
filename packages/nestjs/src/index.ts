export { IdempotencyContext, idempotencyContext } from "./context.js";
export { Idempotent, InjectIdempotency } from "./decorators.js";
export { IdempotencyInterceptor } from "./interceptor.js";
export { IdempotencyModule } from "./module.js";
export { IDEMPOTENCY_MODULE_OPTIONS } from "./module-definition.js";
export type {
  IdempotencyModuleOptions,
  IdempotentOptions,
  NestHttpOptions,
  NestRequest,
  RouteEngineOptions,
} from "./options.js";
export { IdempotencyProblemException } from "./problem-exception.js";
export { IdempotencyRoutes } from "./routes.js";
export { IDEMPOTENCY } from "./tokens.js";
