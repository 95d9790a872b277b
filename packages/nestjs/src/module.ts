import { Module } from "@nestjs/common";
import { DiscoveryModule } from "@nestjs/core";
import { IdempotencyModuleBase } from "./module-definition.js";
import { IdempotencyRoutes } from "./routes.js";
import { IDEMPOTENCY } from "./tokens.js";

/**
 * idemkit for a Nest app: `IdempotencyModule.forRoot({ store, scope })`, or `forRootAsync({
 * useFactory, inject, imports })` for options from a provider (a config service). Import it once, in
 * the root module: it is global. Routes opt in with `@Idempotent()`.
 */
@Module({
  imports: [DiscoveryModule],
  providers: [
    IdempotencyRoutes,
    {
      provide: IDEMPOTENCY,
      useFactory: (routes: IdempotencyRoutes) => routes.instance,
      inject: [IdempotencyRoutes],
    },
  ],
  exports: [IdempotencyRoutes, IDEMPOTENCY],
})
export class IdempotencyModule extends IdempotencyModuleBase {}
