import {
  createIdempotency,
  type HttpEntry,
  type Idempotency,
  type IdempotencyInstanceOptions,
  splitOptions,
} from "@idemkit/core";
import { preparePrototypes } from "@idemkit/node";
import { Inject, Injectable, type OnModuleInit } from "@nestjs/common";
import { PATH_METADATA } from "@nestjs/common/constants.js";
import { DiscoveryService, MetadataScanner, Reflector } from "@nestjs/core";
import { IDEMPOTENT_ROUTE } from "./metadata.js";
import { IDEMPOTENCY_MODULE_OPTIONS } from "./module-definition.js";
import {
  type IdempotencyModuleOptions,
  type IdempotentOptions,
  type NestHttpOptions,
  type NestRequest,
  ROUTE_ENGINE_OPTIONS,
  type RouteEngineOptions,
  WHERE,
} from "./options.js";
import { recognisableProblems } from "./problem-exception.js";

/**
 * The module's configuration, turned into core's HTTP entries: one for the module's options (a
 * missing `scope` fails as the module is made), and one for each route with options of its own, made
 * when the app starts (`onModuleInit`): a route's bad option fails the start and names the route. A
 * route with lease or retention settings gets an instance of its own over the same store, prefix and
 * listener.
 */
@Injectable()
export class IdempotencyRoutes implements OnModuleInit {
  /** The idemkit instance the module runs (`@InjectIdempotency()`), for work outside HTTP (`run`). */
  readonly instance: Idempotency;
  readonly #instanceOptions: IdempotencyInstanceOptions | undefined;
  readonly #http: NestHttpOptions;
  readonly #moduleEntry: HttpEntry<NestRequest>;
  /**
   * By route handler and controller (a handler a base class declares serves each subclass with its
   * own options): its entry, or `false` for a route left out (`@Idempotent(false)`).
   */
  readonly #byRoute = new WeakMap<object, WeakMap<object, HttpEntry<NestRequest> | false>>();

  constructor(
    @Inject(IDEMPOTENCY_MODULE_OPTIONS) options: IdempotencyModuleOptions,
    @Inject(DiscoveryService) private readonly discovery: DiscoveryService,
    @Inject(MetadataScanner) private readonly scanner: MetadataScanner,
    @Inject(Reflector) private readonly reflector: Reflector,
  ) {
    if (options === null || typeof options !== "object") {
      throw new TypeError(
        `${WHERE}: IdempotencyModule needs options with a store (or an idempotency instance)`,
      );
    }
    if ("idempotency" in options) {
      const { idempotency, ...http } = options;
      this.instance = idempotency;
      this.#http = http;
    } else {
      const split = splitOptions<NestHttpOptions>(options);
      this.#instanceOptions = split.instance;
      this.#http = split.http;
      this.instance = createIdempotency(split.instance);
    }
    this.#moduleEntry = this.#entry(this.instance, {});
    preparePrototypes();
  }

  /** Makes the entry of every `@Idempotent()` route of the app: a route's bad option stops the start. */
  onModuleInit(): void {
    for (const { instance, metatype } of this.discovery.getControllers()) {
      if (!instance || !metatype) continue;
      const prototype = Object.getPrototypeOf(instance) as Record<string, unknown>;
      for (const name of this.scanner.getAllMethodNames(prototype)) {
        const handler = prototype[name] as () => unknown;
        if (this.reflector.get(PATH_METADATA, handler) === undefined) continue; // not a route
        const options = this.optionsOf(handler, metatype);
        if (options === undefined) continue;
        try {
          this.forRoute(handler, metatype, () => options);
        } catch (error) {
          const why = (error instanceof Error ? error.message : String(error)).replace(`${WHERE}: `, "");
          // The same kind as core's own check (a RangeError for a value out of range), with the route.
          const Kind = error instanceof RangeError ? RangeError : TypeError;
          throw new Kind(`${WHERE}: @Idempotent() on ${metatype.name}.${name}: ${why}`, { cause: error });
        }
      }
    }
  }

  /**
   * A route's options: the controller's, overridden by the handler's; `false` when left out
   * (`@Idempotent(false)`), `undefined` when neither has `@Idempotent()`.
   */
  optionsOf(handler: object, controller: object): IdempotentOptions | false | undefined {
    const [onHandler, onClass] = this.reflector.getAll<(IdempotentOptions | false | undefined)[]>(
      IDEMPOTENT_ROUTE,
      [handler as () => void, controller as () => void],
    );
    if (onHandler === undefined && onClass === undefined) return undefined;
    if (onHandler === false || (onHandler === undefined && onClass === false)) return false;
    return { ...(onClass || {}), ...(onHandler || {}) };
  }

  /** The entry of a route, its options read once (`options()`); `undefined` when left out. */
  forRoute(
    handler: object,
    controller: object,
    options: () => IdempotentOptions | false,
  ): HttpEntry<NestRequest> | undefined {
    let byController = this.#byRoute.get(handler);
    if (!byController) {
      byController = new WeakMap();
      this.#byRoute.set(handler, byController);
    }
    let entry = byController.get(controller);
    if (entry === undefined) {
      entry = this.#forOptions(options());
      byController.set(controller, entry);
    }
    return entry || undefined;
  }

  #forOptions(options: IdempotentOptions | false): HttpEntry<NestRequest> | false {
    if (options === false) return false;
    const engine: RouteEngineOptions = {};
    const http: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(options)) {
      if ((ROUTE_ENGINE_OPTIONS as readonly string[]).includes(name))
        engine[name as keyof RouteEngineOptions] = value as number;
      else http[name] = value;
    }
    if (Object.keys(engine).length === 0) {
      return Object.keys(http).length === 0 ? this.#moduleEntry : this.#entry(this.instance, http);
    }
    if (!this.#instanceOptions) {
      throw new TypeError(
        `${WHERE}: ${Object.keys(engine).join(", ")} on a route needs IdempotencyModule options with a store, not an idempotency instance`,
      );
    }
    return this.#entry(createIdempotency({ ...this.#instanceOptions, ...engine }), http);
  }

  #entry(instance: Idempotency, route: NestHttpOptions): HttpEntry<NestRequest> {
    const renderProblem = recognisableProblems(route.renderProblem ?? this.#http.renderProblem);
    return instance.exchange<NestRequest>({ ...this.#http, ...route, renderProblem }, WHERE, {
      route: routeTemplate,
    });
  }
}

/** The matched route's template (`/orders/:id`) for events: Fastify's route url, or Express's route path. */
function routeTemplate(request: NestRequest): string | undefined {
  const template = request?.routeOptions?.url ?? request?.route?.path;
  return typeof template === "string" ? template : undefined;
}
