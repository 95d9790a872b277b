import {
  createIdempotency,
  type HttpEntry,
  type Idempotency,
  type IdempotencyInstanceOptions,
  splitOptions,
} from "@idemkit/core";
import { preparePrototypes } from "@idemkit/node";
import { Inject, Injectable } from "@nestjs/common";
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
 * The module's configuration, turned into core's HTTP entries: one for the module's options (checked
 * when the app starts: a missing `scope` fails there), and one for each route with options of its
 * own, made at its first request. A route with lease or retention settings gets an instance of its
 * own over the same store, prefix and listener.
 */
@Injectable()
export class IdempotencyRoutes {
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

  constructor(@Inject(IDEMPOTENCY_MODULE_OPTIONS) options: IdempotencyModuleOptions) {
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
