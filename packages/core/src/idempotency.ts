import { Engine } from "./engine.js";
import { ENGINE_OPTION_NAMES, type EngineOptions } from "./engine-options.js";
import { EventStream, type IdempotencyEventListener } from "./events.js";
import { HttpEntry } from "./http/entry.js";
import type { ExchangeHooks } from "./http/exchange.js";
import { HTTP_OPTION_NAMES, type HttpOptions, resolveHttpPolicy } from "./http/policy.js";
import { handleWeb, type IdempotentHandler } from "./http/web.js";
import { handleWebInTransaction, type TransactionalHandler } from "./http/web-transactional.js";
import { functionOption, rejectUnknownOptions } from "./options-check.js";
import { pingStore } from "./ping.js";
import { executeOnce, type RunContext, type RunOptions, type RunResult } from "./run.js";
import type { TransactionalStore } from "./transactional.js";

export interface IdempotencyOptions extends EngineOptions, HttpOptions<Request> {
  /** Prepended to every stored key, to share a store with other data. Default `idem:`. */
  keyPrefix?: string;
  /** Receives every event (claimed, replayed, conflict, …); same as calling `on()`. */
  onEvent?: IdempotencyEventListener;
}

const OPTION_NAMES = new Set([...ENGINE_OPTION_NAMES, ...HTTP_OPTION_NAMES, "keyPrefix", "onEvent"]);
const HTTP_NAMES = new Set(HTTP_OPTION_NAMES);

/** The options of an instance without the HTTP ones: the store, leases, key prefix, listener. */
export type IdempotencyInstanceOptions = Omit<IdempotencyOptions, keyof HttpOptions<Request>>;

/**
 * Splits options given to an integration (`idempotency({ store, scope, … })`) into the instance's
 * and the HTTP ones, so an integration can type the HTTP half for its own request object.
 */
export function splitOptions<H extends object>(
  options: IdempotencyInstanceOptions & H,
): { instance: IdempotencyInstanceOptions; http: H } {
  const instance: Record<string, unknown> = {};
  const http: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(options)) (HTTP_NAMES.has(name) ? http : instance)[name] = value;
  return { instance: instance as IdempotencyInstanceOptions, http: http as H };
}

export interface Idempotency {
  /** Handles one Web `Request` idempotently, calling `handler` at most once per key. */
  handle(request: Request, handler: IdempotentHandler): Promise<Response>;
  /** Wraps a Web handler: `export default { fetch: idem.wrap(app) }`. Needs a `scope`. */
  wrap(handler: IdempotentHandler): (request: Request) => Promise<Response>;
  /**
   * Transactional mode for SQL stores: the handler's writes through `context.client`, the key row
   * and the stored response commit or roll back together in one transaction.
   */
  transactional<C>(store: TransactionalStore<C>): {
    handle(request: Request, handler: TransactionalHandler<C>): Promise<Response>;
    wrap(handler: TransactionalHandler<C>): (request: Request) => Promise<Response>;
  };
  /** Runs `work` at most once per key and returns its (possibly replayed) value. */
  run<T>(options: RunOptions<T>, work: (context: RunContext) => T | Promise<T>): Promise<T>;
  /** Like `run`, and also says whether the value was replayed. */
  execute<T>(options: RunOptions<T>, work: (context: RunContext) => T | Promise<T>): Promise<RunResult<T>>;
  /**
   * The same instance (store, engine, events) with some HTTP options overridden, for one route:
   * `idem.withOptions({ scope: tenantOf, maxResponseBytes: 64 * 1024 })`.
   */
  withOptions(overrides: HttpOptions<Request>): Idempotency;
  /**
   * For integrations: core's HTTP semantics over the neutral exchange (no Web objects), with the
   * instance's HTTP options and `options` on top. `R` is the integration's request type, handed to
   * `scope` and `fingerprint`; `where` names the integration in configuration errors; `hooks` tell
   * events what the integration knows of a request (its route's template).
   */
  exchange<R>(options: HttpOptions<R>, where: string, hooks?: ExchangeHooks<R>): HttpEntry<R>;
  /** Subscribes to the event stream; returns the unsubscribe function. */
  on(listener: IdempotencyEventListener): () => void;
  /**
   * For health checks: resolves when the store answers one round trip within `storeTimeoutMs` (its
   * `ping()`, or a read of a key no request uses on a store without one); rejects with a
   * `StoreUnavailableError` otherwise. Changes nothing and emits no event.
   */
  ping(): Promise<void>;
}

export function createIdempotency(options: IdempotencyOptions): Idempotency {
  if (options === null || typeof options !== "object") {
    throw new TypeError("createIdempotency needs an options object with a store");
  }
  rejectUnknownOptions("createIdempotency", options, OPTION_NAMES);
  if (options.keyPrefix !== undefined && typeof options.keyPrefix !== "string") {
    throw new TypeError("keyPrefix must be a string");
  }
  const events = new EventStream();
  const onEvent = functionOption<IdempotencyEventListener>("onEvent", options.onEvent);
  if (onEvent) events.on(onEvent);
  resolveHttpPolicy(options); // HTTP options are checked when given, not on the first request
  return build(options, new Engine(options, events), events);
}

/** One instance over a shared engine and event stream (`withOptions` builds more over the same). */
function build(options: IdempotencyOptions, engine: Engine, events: EventStream): Idempotency {
  const keyPrefix = options.keyPrefix ?? "idem:";
  let web: HttpEntry<Request> | undefined;
  const webEntry = () => {
    web ??= new HttpEntry(engine, keyPrefix, resolveHttpPolicy(options), "idemkit");
    return web;
  };
  const handle = (request: Request, handler: IdempotentHandler) => handleWeb(webEntry(), request, handler);
  const execute = <T>(runOptions: RunOptions<T>, work: (context: RunContext) => T | Promise<T>) =>
    executeOnce(engine, keyPrefix, runOptions, work);
  return {
    handle,
    wrap: (handler) => {
      webEntry(); // a missing scope or a bad option fails here, not on the first request
      return (request) => handle(request, handler);
    },
    transactional: <C>(store: TransactionalStore<C>) => {
      const inTransaction = (request: Request, handler: TransactionalHandler<C>) =>
        handleWebInTransaction(engine, webEntry(), store, request, handler);
      return {
        handle: inTransaction,
        wrap: (handler: TransactionalHandler<C>) => {
          webEntry();
          return (request: Request) => inTransaction(request, handler);
        },
      };
    },
    run: async (runOptions, work) => (await execute(runOptions, work)).value,
    execute,
    withOptions: (overrides) => {
      rejectUnknownOptions("withOptions", overrides, HTTP_NAMES);
      resolveHttpPolicy(overrides);
      return build({ ...options, ...overrides }, engine, events);
    },
    exchange: <R>(overrides: HttpOptions<R>, where: string, hooks?: ExchangeHooks<R>): HttpEntry<R> => {
      rejectUnknownOptions(where, overrides, HTTP_NAMES);
      // The instance's own scope and fingerprint functions read a Web Request: an integration
      // with its own request type gives its own (`"global"` is shared by all).
      const { scope, fingerprint, ...shared } = pickHttp(options);
      const merged = { ...shared, ...(scope === "global" && { scope }), ...overrides } as HttpOptions<R>;
      for (const [name, given] of [
        ["scope", scope],
        ["fingerprint", fingerprint],
      ] as const) {
        if (typeof given === "function" && merged[name] === undefined) {
          throw new TypeError(
            `${where}: the ${name} given to createIdempotency reads a Web Request; give ${where} its own ${name}, which gets its request`,
          );
        }
      }
      return new HttpEntry(engine, keyPrefix, resolveHttpPolicy(merged), where, hooks);
    },
    on: (listener) => events.on(listener),
    ping: () => pingStore(engine, keyPrefix),
  };
}

function pickHttp(options: IdempotencyOptions): HttpOptions<Request> {
  const picked: Record<string, unknown> = {};
  for (const name of HTTP_OPTION_NAMES) {
    const value = (options as unknown as Record<string, unknown>)[name];
    if (value !== undefined) picked[name] = value;
  }
  return picked as HttpOptions<Request>;
}
