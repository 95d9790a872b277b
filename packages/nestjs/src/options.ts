import type { HttpOptions, Idempotency, IdempotencyInstanceOptions } from "@idemkit/core";

/**
 * The request Nest hands a route (`@Req()`): Express's or Fastify's, whichever platform the app runs
 * on. `scope` and `fingerprint` get it (`req.user.accountId` after your auth guard or middleware).
 */
// biome-ignore lint/suspicious/noExplicitAny: the platform's request type is the app's to name
export type NestRequest = any;

/** Core's HTTP options, with `scope` and `fingerprint` reading the platform's request. */
export type NestHttpOptions = HttpOptions<NestRequest>;

/** The lease and retention settings a route may have of its own (see `createIdempotency`). */
export type RouteEngineOptions = Pick<
  IdempotencyInstanceOptions,
  "leaseMs" | "retentionMs" | "heartbeatMs" | "maxHoldMs" | "storeTimeoutMs"
>;

/**
 * `IdempotencyModule.forRoot(options)`: the options of `createIdempotency` (`store`, `leaseMs`,
 * `keyPrefix`, `onEvent`, …), or `{ idempotency }` for an instance you already have, plus core's HTTP
 * options for every `@Idempotent()` route (`scope` is required).
 */
export type IdempotencyModuleOptions = NestHttpOptions &
  ({ idempotency: Idempotency } | IdempotencyInstanceOptions);

/** `@Idempotent(options)`: HTTP options and lease or retention settings for one route or controller. */
export type IdempotentOptions = NestHttpOptions & RouteEngineOptions;

/** The names of `RouteEngineOptions`: a route with one of them gets an instance of its own. */
export const ROUTE_ENGINE_OPTIONS: readonly (keyof RouteEngineOptions)[] = [
  "leaseMs",
  "retentionMs",
  "heartbeatMs",
  "maxHoldMs",
  "storeTimeoutMs",
];

/** Where configuration errors say they come from. */
export const WHERE = "@idemkit/nestjs";
