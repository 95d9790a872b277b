// A Nest project as Nest's CLI sets one up: TypeScript compiled to CommonJS with decorator metadata,
// so providers are injected by their constructor's parameter types (no @Inject). It requires
// @idemkit/nestjs (its CommonJS build) and runs one idempotent route on each platform, printing what
// a client got. Compiled and run by ../nestjs-commonjs.test.ts.
import "reflect-metadata";
import { createMemoryStore, type HandlerContext } from "@idemkit/core";
import { IdempotencyContext, IdempotencyModule, Idempotent } from "@idemkit/nestjs";
import { Body, Controller, Injectable, Module, Post } from "@nestjs/common";
import { NestFactory } from "@nestjs/core";
import { ExpressAdapter } from "@nestjs/platform-express";
import { FastifyAdapter } from "@nestjs/platform-fastify";

@Injectable()
class Orders {
  private count = 0;
  create(item: unknown, fence: number | undefined) {
    return { id: `order-${++this.count}`, item, fence };
  }
}

@Controller("orders")
class OrdersController {
  constructor(private readonly orders: Orders) {}

  @Post()
  @Idempotent()
  create(@Body() body: { item: string }, @IdempotencyContext() idem: HandlerContext) {
    return this.orders.create(body.item, idem.fence);
  }
}

@Module({
  // Options from a factory, run for each app: each gets a store of its own.
  imports: [
    IdempotencyModule.forRootAsync({ useFactory: () => ({ store: createMemoryStore(), scope: "global" }) }),
  ],
  controllers: [OrdersController],
  providers: [Orders],
})
class AppModule {}

async function main(): Promise<void> {
  for (const [name, adapter] of [
    ["express", () => new ExpressAdapter()],
    ["fastify", () => new FastifyAdapter()],
  ] as const) {
    const app = await NestFactory.create(AppModule, adapter(), { logger: false });
    await app.listen(0, "127.0.0.1");
    const { port } = app.getHttpServer().address();
    const post = () =>
      fetch(`http://127.0.0.1:${port}/orders`, {
        method: "POST",
        headers: { "content-type": "application/json", "idempotency-key": "order-1" },
        body: JSON.stringify({ item: "book" }),
      });
    for (const response of [await post(), await post()]) {
      const replayed = response.headers.get("idempotent-replayed");
      console.log(`${name} ${response.status} ${replayed ?? "-"} ${await response.text()}`);
    }
    await app.close();
  }
}

main().then(
  () => console.log("done"),
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
