import { Engine, type EngineOptions } from "./engine.js";
import { EventStream, type IdempotencyEventListener } from "./events.js";
import { createHttpHandler, type HttpOptions, type IdempotentHandler } from "./http.js";
import { executeOnce, type RunContext, type RunOptions, type RunResult } from "./run.js";

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
  /** Runs `work` at most once per key and returns its (possibly replayed) value. */
  run<T>(options: RunOptions<T>, work: (context: RunContext) => T | Promise<T>): Promise<T>;
  /** Like `run`, and also says whether the value was replayed. */
  execute<T>(options: RunOptions<T>, work: (context: RunContext) => T | Promise<T>): Promise<RunResult<T>>;
  /** Subscribes to the event stream; returns the unsubscribe function. */
  on(listener: IdempotencyEventListener): () => void;
  readonly engine: Engine;
}

export function createIdempotency(options: IdempotencyOptions): Idempotency {
  const events = new EventStream();
  if (options.onEvent) events.on(options.onEvent);
  const engine = new Engine(options, events);
  const keyPrefix = options.keyPrefix ?? "idem:";
  const handle = createHttpHandler(engine, keyPrefix, options);
  const execute = <T>(runOptions: RunOptions<T>, work: (context: RunContext) => T | Promise<T>) =>
    executeOnce(engine, keyPrefix, runOptions, work);
  return {
    handle,
    wrap: (handler) => (request) => handle(request, handler),
    run: async (runOptions, work) => (await execute(runOptions, work)).value,
    execute,
    on: (listener) => events.on(listener),
    engine,
  };
}
