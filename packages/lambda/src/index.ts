export { boundedLeaseMs } from "./deadline.js";
export type { LambdaHttpOptions } from "./http-flow.js";
export { type IdempotentHttpHandler, makeHttpIdempotent } from "./http-handler.js";
export { DEFAULT_DEADLINE_MARGIN_MS, type LambdaInstanceOptions, LONGEST_INVOCATION_MS } from "./instance.js";
export {
  type EventIdempotencyOptions,
  type IdempotentEventHandler,
  makeIdempotent,
} from "./make-idempotent.js";
export type { IdempotentLambdaContext, MiddyMiddleware, MiddyRequest } from "./middy.js";
export { idempotency } from "./middy-event.js";
export { httpIdempotency } from "./middy-http.js";
export type {
  ApiGatewayV1Event,
  ApiGatewayV2Event,
  HttpEvent,
  IdempotencyContext,
  LambdaContext,
  LambdaHttpResult,
} from "./types.js";
