import { ConfigurableModuleBuilder } from "@nestjs/common";
import type { IdempotencyModuleOptions } from "./options.js";

/**
 * `forRoot(options)` and `forRootAsync({ useFactory, inject, imports })` (or `useClass`,
 * `useExisting`), as Nest's own modules have them. The module is global: `@Idempotent()` routes of
 * every module reach it, as its interceptor is created in the module of each controller.
 */
export const {
  ConfigurableModuleClass: IdempotencyModuleBase,
  MODULE_OPTIONS_TOKEN: IDEMPOTENCY_MODULE_OPTIONS,
} = new ConfigurableModuleBuilder<IdempotencyModuleOptions>()
  .setClassMethodName("forRoot")
  .setExtras({}, (definition) => ({ ...definition, global: true }))
  .build();
