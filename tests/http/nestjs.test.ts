import { createMemoryStore, type IdempotentHandler } from "@idemkit/core";
import { IdempotencyContext, IdempotencyModule, Idempotent } from "@idemkit/nestjs";
import { All, Controller, Module, Req, Res } from "@nestjs/common";
import { describeHttpBehaviour } from "./behaviour-suite.js";
import { loopback, sendTo } from "./loopback.js";
import { nestScope, PLATFORMS, runWebHandler, startNest } from "./nestjs-app.js";

const servers = loopback();

// A real Nest application per mount, on each platform: the suite's Web handler behind an
// @Idempotent() catch-all route, idemkit configured through IdempotencyModule.forRoot.
for (const platform of PLATFORMS) {
  describeHttpBehaviour({
    name: `NestJS on ${platform} (@idemkit/nestjs) on the memory store`,
    createStore: () => createMemoryStore(),
    mount: async (options, handler: IdempotentHandler) => {
      const { scope, fingerprint: _unused, ...rest } = options;

      @Controller()
      @Idempotent()
      class SuiteController {
        @All(platform === "express" ? "*path" : "*")
        route(@Req() request: unknown, @Res() response: unknown, @IdempotencyContext() context: never) {
          return runWebHandler(handler, request, response, context);
        }
      }

      @Module({
        imports: [IdempotencyModule.forRoot({ ...rest, scope: nestScope(scope) })],
        controllers: [SuiteController],
      })
      class SuiteModule {}

      const { app, origin } = await startNest(platform, SuiteModule);
      servers.track(app);
      return sendTo(origin);
    },
  });
}
