import { randomUUID } from "node:crypto";
import {
  createIdempotency,
  createMemoryStore,
  type HandlerContext,
  type Idempotency,
  type IdempotencyEvent,
} from "@idemkit/core";
import {
  IdempotencyContext,
  IdempotencyModule,
  IdempotencyProblemException,
  Idempotent,
  InjectIdempotency,
} from "@idemkit/nestjs";
import {
  type ArgumentsHost,
  Body,
  type CallHandler,
  Catch,
  ConflictException,
  Controller,
  type ExceptionFilter,
  type ExecutionContext,
  Get,
  Header,
  HttpCode,
  Inject,
  Injectable,
  Module,
  type NestInterceptor,
  Patch,
  Post,
  Put,
  RequestTimeoutException,
} from "@nestjs/common";
import { APP_FILTER, APP_INTERCEPTOR, BaseExceptionFilter, HttpAdapterHost } from "@nestjs/core";
import { catchError, map, throwError, timeout } from "rxjs";
import { afterAll, describe, expect, it } from "vitest";
import { PLATFORMS, startNest } from "./nestjs-app.js";

// Nest-specific behaviour of @idemkit/nestjs on a real Nest app over loopback, on both platforms:
// routes that return values for Nest to serialize, per-route options, forRootAsync, exceptions and
// exception filters. (The shared behaviour suite runs in nestjs.test.ts.)
const store = createMemoryStore();
const apps: { close(): Promise<unknown> }[] = [];
afterAll(async () => {
  await Promise.all(apps.map((app) => app.close()));
});

/** A gate a route waits on, so a duplicate can arrive while the first is in flight. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}

describe.each(PLATFORMS)("@idemkit/nestjs on %s", (platform) => {
  const keyPrefix = `nest-${platform}-${randomUUID()}:`;
  const events: IdempotencyEvent[] = [];
  const runs = { orders: 0, items: 0, open: 0, fails: 0, slow: 0, kept: 0, twice: 0, charges: 0 };
  let slowGate = gate();

  @Injectable()
  class Payments {
    constructor(@InjectIdempotency() private readonly idem: Idempotency) {}
    charge(id: string) {
      return this.idem.run({ key: `charge-${id}` }, async () => ({ charge: ++runs.charges }));
    }
  }

  @Controller()
  class OrdersController {
    constructor(@Inject(Payments) private readonly payments: Payments) {}

    @Post("orders")
    @Idempotent()
    @Header("x-api-version", "7")
    create(@Body() body: unknown, @IdempotencyContext() idem: HandlerContext) {
      return { order: ++runs.orders, body, key: idem.key, fence: idem.fence };
    }

    @Put("items/:id")
    @Idempotent({ methods: ["PUT"] })
    @HttpCode(202)
    upsert() {
      return { item: ++runs.items };
    }

    @Post("fails")
    @Idempotent()
    fail() {
      if (++runs.fails === 1) throw new ConflictException("out of stock");
      return { fails: runs.fails };
    }

    @Post("slow")
    @Idempotent({ leaseMs: 60_000 })
    async slow() {
      runs.slow++;
      await slowGate.opened;
      return { slow: runs.slow };
    }

    @Post("kept")
    @Idempotent({ retentionMs: 60_000 })
    kept() {
      return { kept: ++runs.kept };
    }

    @Post("charges/:id")
    @Idempotent()
    charge(@Body() body: { id: string }) {
      return this.payments.charge(body.id);
    }
  }

  @Controller("open")
  @Idempotent({ methods: ["POST", "PATCH"] })
  class OpenController {
    @Post()
    @Idempotent(false)
    open() {
      return { open: ++runs.open };
    }

    @Patch()
    @Idempotent()
    twice() {
      return { twice: ++runs.twice };
    }
  }

  /** A config service as `@nestjs/config` gives one: the module's options are read from it. */
  class AppConfig {
    constructor(private readonly values: Record<string, string>) {}
    get(name: string): string | undefined {
      return this.values[name];
    }
  }

  @Module({
    providers: [{ provide: AppConfig, useValue: new AppConfig({ IDEMPOTENCY_HEADER: "X-Request-Key" }) }],
    exports: [AppConfig],
  })
  class ConfigModule {}

  @Module({
    imports: [
      IdempotencyModule.forRootAsync({
        imports: [ConfigModule],
        inject: [AppConfig],
        useFactory: async (config: AppConfig) => ({
          store,
          keyPrefix,
          header: config.get("IDEMPOTENCY_HEADER"),
          scope: (request: { headers: Record<string, string | undefined> }) => request.headers["x-account"],
          onEvent: (event: IdempotencyEvent) => events.push(event),
        }),
      }),
    ],
    controllers: [OrdersController, OpenController],
    providers: [Payments],
  })
  class AppModule {}

  /** Reshapes idemkit's problems into the app's error envelope, keeping `Retry-After`. */
  @Catch(IdempotencyProblemException)
  class ProblemEnvelope implements ExceptionFilter {
    constructor(private readonly adapterHost: HttpAdapterHost) {}
    catch(exception: IdempotencyProblemException, host: ArgumentsHost) {
      const { httpAdapter } = this.adapterHost;
      const response = host.switchToHttp().getResponse();
      const retryAfter = exception.problem.headers["retry-after"];
      if (retryAfter) httpAdapter.setHeader(response, "retry-after", retryAfter);
      httpAdapter.reply(response, { error: { code: exception.problem.type } }, exception.getStatus());
    }
  }

  const logged: unknown[] = [];
  const started = startNest(
    platform,
    AppModule,
    (app) => {
      app.useGlobalFilters(new ProblemEnvelope(app.get(HttpAdapterHost)));
    },
    logged,
  ).then(({ app, origin }) => {
    apps.push(app);
    return origin;
  });

  /** The stored key of `key` for acct-1 (the scope is length-prefixed). */
  const storedKey = (key: string) => `${keyPrefix}http:6:acct-1:${key}`;

  /** Waits until a request in flight has claimed `key`. */
  async function untilClaimed(key: string) {
    for (let i = 0; (await store.get(storedKey(key))) === undefined; i++) {
      if (i > 1000) throw new Error(`${key} was never claimed`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return store.get(storedKey(key));
  }

  async function send(method: string, path: string, key: string | null, body?: unknown, account = "acct-1") {
    const headers: Record<string, string> = { "x-account": account };
    if (key !== null) headers["x-request-key"] = key;
    if (body !== undefined) headers["content-type"] = "application/json";
    return fetch(`${await started}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  it("stores the response Nest serialized and replays it byte for byte, with the route's headers", async () => {
    const key = randomUUID();
    const first = await send("POST", "/orders", key, { item: "book" });
    const firstBody = await first.text();
    expect(first.status).toBe(201);
    const parsed = JSON.parse(firstBody);
    expect(parsed).toMatchObject({ body: { item: "book" }, key, fence: 1 });
    const replay = await send("POST", "/orders", key, { item: "book" });
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(await replay.text()).toBe(firstBody);
    for (const name of ["content-type", "content-length", "x-api-version"])
      expect(replay.headers.get(name), name).toBe(first.headers.get(name));
    expect(replay.headers.get("x-api-version")).toBe("7");
    // The scope from forRootAsync's config: the same key of another account is its own request.
    const other = await send("POST", "/orders", key, { item: "book" }, "acct-2");
    expect(other.headers.get("idempotent-replayed")).toBeNull();
    expect(JSON.parse(await other.text()).order).toBe(parsed.order + 1);
  });

  it("reads the key header forRootAsync's factory took from the config provider", async () => {
    const response = await fetch(`${await started}/orders`, {
      method: "POST",
      headers: { "x-account": "acct-1", "idempotency-key": randomUUID() },
    });
    expect(response.status).toBe(400);
    expect(response.headers.get("content-type")).toMatch(/json/);
  });

  it("applies a route's own methods and keeps its @HttpCode", async () => {
    const key = randomUUID();
    const first = await send("PUT", "/items/1", key);
    expect(first.status).toBe(202);
    const replay = await send("PUT", "/items/1", key);
    expect(replay.status).toBe(202);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(await replay.json()).toEqual(await first.json());
    expect(runs.items).toBe(1);
  });

  it("leaves a route out with @Idempotent(false), and handles a route decorated twice once", async () => {
    expect((await send("POST", "/open", null)).status).toBe(201);
    expect((await send("POST", "/open", null)).status).toBe(201);
    expect(runs.open).toBe(2);
    const key = randomUUID();
    const first = await send("PATCH", "/open", key);
    expect(first.status).toBe(200);
    const replay = await send("PATCH", "/open", key);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(runs.twice).toBe(1);
  });

  it("gives a route its own lease and retention", async () => {
    const key = randomUUID();
    slowGate = gate();
    const first = send("POST", "/slow", key);
    try {
      const record = await untilClaimed(key);
      expect(record?.state).toBe("in_progress");
      // The module's lease is core's default (30 s); this route's is 60 s.
      const leaseLeft = record?.state === "in_progress" ? record.leaseExpiresAt - Date.now() : 0;
      expect(leaseLeft).toBeGreaterThan(45_000);
    } finally {
      slowGate.open();
    }
    expect((await first).status).toBe(201);

    const keptKey = randomUUID();
    await send("POST", "/kept", keptKey);
    const kept = await store.get(storedKey(keptKey));
    // Retention 60 s instead of the module's 24 h.
    const retained = kept?.state === "completed" ? kept.expiresAt - Date.now() : 0;
    expect(retained).toBeGreaterThan(0);
    // The memory store's clock is monotonic (timeOrigin + performance.now()), Date.now() is the wall
    // clock: they drift apart by microseconds over a long run (CI read 60000.008).
    expect(retained).toBeLessThanOrEqual(60_000 + 1_000);
  });

  it("releases the key when the handler throws an HttpException: Nest answers it, and a retry runs", async () => {
    const key = randomUUID();
    const failed = await send("POST", "/fails", key);
    expect(failed.status).toBe(409);
    expect(await failed.json()).toMatchObject({ message: "out of stock", statusCode: 409 });
    expect(failed.headers.get("idempotent-replayed")).toBeNull();
    const retry = await send("POST", "/fails", key);
    expect(retry.status).toBe(201);
    expect(await retry.json()).toEqual({ fails: 2 });
    expect((await send("POST", "/fails", key)).headers.get("idempotent-replayed")).toBe("true");
    expect(runs.fails).toBe(2);
  });

  it("hands idemkit's 409 to the app's exception filter, which reshapes it", async () => {
    const key = randomUUID();
    slowGate = gate();
    const first = send("POST", "/slow", key);
    let duplicate: Response;
    try {
      await untilClaimed(key);
      duplicate = await send("POST", "/slow", key);
    } finally {
      slowGate.open();
    }
    expect(duplicate.status).toBe(409);
    expect(duplicate.headers.get("content-type")).toMatch(/^application\/json/);
    expect(duplicate.headers.get("retry-after")).toBe("1");
    expect(await duplicate.json()).toEqual({ error: { code: "request-in-progress" } });
    expect((await first).status).toBe(201);
    const replay = await send("POST", "/slow", key);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
  });

  it("gives routes the module's instance for work outside HTTP (@InjectIdempotency)", async () => {
    const first = await send("POST", "/charges/1", randomUUID(), { id: "c1" });
    const second = await send("POST", "/charges/2", randomUUID(), { id: "c1" });
    expect(await first.json()).toEqual({ charge: 1 });
    expect(await second.json()).toEqual({ charge: 1 });
    expect(runs.charges).toBe(1);
  });

  it("logs no error for any of the above: after a replay, Nest's own reply is dropped, not failed", () => {
    expect(logged).toEqual([]);
  });

  it("reports the route template in its events", async () => {
    await send("PUT", "/items/42", randomUUID());
    const finished = events.filter((e) => e.type === "finished" && e.http?.path === "/items/42");
    expect(finished.map((e) => e.type === "finished" && e.http?.route)).toEqual(["/items/:id"]);
  });
});

describe.each(PLATFORMS)("@idemkit/nestjs problems without a reshaping filter, on %s", (platform) => {
  const seen: string[] = [];

  /** A catch-all that logs and lets Nest answer (the pattern of Nest's docs). */
  @Catch()
  class LoggingFilter extends BaseExceptionFilter {
    override catch(exception: unknown, host: ArgumentsHost) {
      seen.push(exception instanceof IdempotencyProblemException ? exception.problem.type : "other");
      super.catch(exception, host);
    }
  }

  @Controller()
  class Orders {
    @Post("orders")
    @Idempotent()
    create(@Body() body: unknown) {
      return { body };
    }

    @Get("health")
    health() {
      return { ok: true };
    }
  }

  /** Wraps every response in an envelope, as many Nest apps do (outside the route's interceptors). */
  @Injectable()
  class Envelope implements NestInterceptor {
    intercept(_context: ExecutionContext, next: CallHandler) {
      return next.handle().pipe(map((data) => ({ data })));
    }
  }

  @Module({
    imports: [IdempotencyModule.forRoot({ store, keyPrefix: `plain-${randomUUID()}:`, scope: "global" })],
    controllers: [Orders],
    providers: [
      { provide: APP_FILTER, useClass: LoggingFilter },
      { provide: APP_INTERCEPTOR, useClass: Envelope },
    ],
  })
  class PlainModule {}

  const logged: unknown[] = [];
  const started = startNest(platform, PlainModule, () => {}, logged).then(({ app, origin }) => {
    apps.push(app);
    return origin;
  });

  it("replays what a global interceptor shaped, and sends a problem a filter handed on to Nest exactly as idemkit renders it", async () => {
    const origin = await started;
    const key = randomUUID();
    const post = (body: unknown) =>
      fetch(`${origin}/orders`, {
        method: "POST",
        headers: { "idempotency-key": key, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const first = await post({ a: 1 });
    expect(first.status).toBe(201);
    const stored = await first.text();
    expect(JSON.parse(stored)).toEqual({ data: { body: { a: 1 } } });
    // The replay is the bytes the global interceptor shaped the first time, not shaped again.
    const replay = await post({ a: 1 });
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(await replay.text()).toBe(stored);
    expect(logged).toEqual([]);
    const mismatch = await post({ a: 2 });
    expect(mismatch.status).toBe(422);
    expect(mismatch.headers.get("content-type")).toBe("application/problem+json");
    expect(await mismatch.json()).toMatchObject({ type: "urn:idemkit:problem:key-reused", status: 422 });
    expect(seen).toEqual(["key-reused"]);
    expect((await fetch(`${origin}/health`)).status).toBe(200);
  });
});

describe("@idemkit/nestjs configuration errors", () => {
  it("refuses to start without a scope, naming it", async () => {
    @Module({ imports: [IdempotencyModule.forRoot({ store })] })
    class NoScope {}
    await expect(startNest("express", NoScope)).rejects.toThrow(/scope/);
  });

  it.each(PLATFORMS)(
    "refuses to start with a route's bad option, naming the route (%s)",
    async (platform) => {
      @Controller()
      class Negative {
        @Post("negative")
        @Idempotent({ maxResponseBytes: -1 })
        negative() {
          return {};
        }
      }

      @Controller("leased")
      @Idempotent({ leaseMs: 5_000 })
      class Leased {
        @Post()
        leased() {
          return {};
        }
      }

      const withInstance = IdempotencyModule.forRoot({
        idempotency: createIdempotency({ store }),
        scope: "global",
      });
      @Module({ imports: [withInstance], controllers: [Negative] })
      class BadLimit {}
      @Module({ imports: [withInstance], controllers: [Leased] })
      class LeaseWithInstance {}

      // A RangeError, as core's own check of the option.
      const refused = await startNest(platform, BadLimit).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(refused).toBeInstanceOf(RangeError);
      expect((refused as Error).message).toMatch(/@Idempotent\(\) on Negative\.negative: .*maxResponseBytes/);
      await expect(startNest(platform, LeaseWithInstance)).rejects.toThrow(
        /@Idempotent\(\) on Leased\.leased: leaseMs on a route needs IdempotencyModule options with a store/,
      );
    },
  );
});

describe("@idemkit/nestjs controllers that share a handler", () => {
  it.each(PLATFORMS)("gives each subclass of a base controller its own options (%s)", async (platform) => {
    class BaseController {
      @Post()
      create() {
        return { created: true };
      }
    }

    @Controller("strict")
    @Idempotent()
    class Strict extends BaseController {}

    @Controller("lenient")
    @Idempotent({ required: false })
    class Lenient extends BaseController {}

    @Module({
      imports: [IdempotencyModule.forRoot({ store, keyPrefix: `shared-${randomUUID()}:`, scope: "global" })],
      controllers: [Strict, Lenient],
    })
    class SharedModule {}

    const { app, origin } = await startNest(platform, SharedModule);
    apps.push(app);
    const post = (path: string) => fetch(`${origin}${path}`, { method: "POST" });
    // Whichever route is asked first, the other keeps its own options.
    expect((await post("/lenient")).status).toBe(201);
    expect((await post("/strict")).status).toBe(400);
    expect((await post("/lenient")).status).toBe(201);
  });
});

describe("@idemkit/nestjs requests given up by an outer interceptor", () => {
  it.each(PLATFORMS)(
    "never runs the route of a request given up while it waited for its key (%s)",
    async (platform) => {
      let runs = 0;
      const release = gate();

      /** A timeout interceptor as apps have them; the test sets each request's through a header. */
      @Injectable()
      class Timeout implements NestInterceptor {
        intercept(context: ExecutionContext, next: CallHandler) {
          const ms = Number(context.switchToHttp().getRequest().headers["x-timeout-ms"]);
          return next.handle().pipe(
            timeout(ms),
            catchError(() => throwError(() => new RequestTimeoutException())),
          );
        }
      }

      @Controller()
      class Slow {
        @Post("slow")
        @Idempotent({ waitForInFlight: { timeoutMs: 2_000, pollMs: 20 } })
        async slow() {
          runs++;
          await release.opened;
          return { runs };
        }
      }

      const keyPrefix = `given-up-${randomUUID()}:`;
      @Module({
        imports: [IdempotencyModule.forRoot({ store, keyPrefix, scope: "global" })],
        controllers: [Slow],
        providers: [{ provide: APP_INTERCEPTOR, useClass: Timeout }],
      })
      class GivenUpModule {}

      const { app, origin } = await startNest(platform, GivenUpModule);
      apps.push(app);
      const post = (ms: number) =>
        fetch(`${origin}/slow`, {
          method: "POST",
          headers: { "idempotency-key": "k", "x-timeout-ms": String(ms) },
        });
      try {
        const first = post(400);
        for (let i = 0; (await store.get(`${keyPrefix}http:0::k`)) === undefined; i++) {
          if (i > 1000) throw new Error("never claimed");
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        // The duplicate waits for the first; its own timeout answers it long before the first's ends.
        expect((await post(50)).status).toBe(408);
        expect((await first).status).toBe(408); // its key released: a 408 is not stored
        // The duplicate was still polling: it finds the key free, and must not run for a client gone.
        await new Promise((resolve) => setTimeout(resolve, 800));
        expect(runs).toBe(1);
      } finally {
        release.open();
      }
    },
  );
});
