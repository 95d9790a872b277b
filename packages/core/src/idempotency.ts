import { Engine, type EngineOptions } from "./engine.js";
import { EventStream, type IdempotencyEventListener } from "./events.js";
import {
  createHttpHandler,
  type HttpOptions,
  type IdempotentHandler,
  type TransactionalHandler,
} from "./http.js";
import { executeOnce, type RunContext, type RunOptions, type RunResult } from "./run.js";
import type { TransactionalStore } from "./transactional.js";

export interface IdempotencyOptions extends EngineOptions, HttpOptions {
  /** Prepended to every stored key, to share a store with other data. Default `idem:`. */
  keyPrefix?: string;
  /** Receives every event (claimed, replayed, conflict, …); same as calling `on()`. */
  onEvent?: IdempotencyEventListener;
}

export interface Idempotency {
  /** Handles one Web `Request` idempotently, calling `handler` at most once per key. */
  handle(request: Request, handler: IdempotentHandler): Promise<Response>;
  /** Wraps a Web handler: `export default { fetch: idem.wrap(app) }`. */
  wrap(handler: IdempotentHandler): (request: Request) => Promise<Response>;
  /**
   * Transactional mode for SQL stores (DESIGN §5): the handler's writes through `context.client`,
   * the key row and the stored response commit or roll back together in one transaction.
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
  withOptions(overrides: HttpOptions): Idempotency;
  /** Subscribes to the event stream; returns the unsubscribe function. */
  on(listener: IdempotencyEventListener): () => void;
  readonly engine: Engine;
}

export function createIdempotency(options: IdempotencyOptions): Idempotency {
  const events = new EventStream();
  if (options.onEvent) events.on(options.onEvent);
  return build(options, new Engine(options, events), events);
}

/** One instance over a shared engine and event stream (`withOptions` builds more over the same). */
function build(options: IdempotencyOptions, engine: Engine, events: EventStream): Idempotency {
  const keyPrefix = options.keyPrefix ?? "idem:";
  const { handle, handleInTransaction } = createHttpHandler(engine, keyPrefix, options);
  const execute = <T>(runOptions: RunOptions<T>, work: (context: RunContext) => T | Promise<T>) =>
    executeOnce(engine, keyPrefix, runOptions, work);
  return {
    handle,
    wrap: (handler) => (request) => handle(request, handler),
    transactional: (store) => ({
      handle: (request, handler) => handleInTransaction(store, request, handler),
      wrap: (handler) => (request) => handleInTransaction(store, request, handler),
    }),
    run: async (runOptions, work) => (await execute(runOptions, work)).value,
    execute,
    withOptions: (overrides) => build({ ...options, ...overrides }, engine, events),
    on: (listener) => events.on(listener),
    engine,
  };
}
