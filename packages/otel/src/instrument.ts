import type { IdempotencyEventListener } from "@idemkit/core";
import { type Meter, metrics, type Tracer, trace } from "@opentelemetry/api";
import { CallMetrics } from "./metrics.js";
import { recordCallSpan } from "./spans.js";

/** The name idemkit's tracer and meter go by when they come from the global providers. */
export const INSTRUMENTATION_NAME = "@idemkit/otel";

export interface OtelOptions {
  /** Where spans go. Default: the global tracer provider's tracer for `@idemkit/otel`. */
  tracer?: Tracer;
  /** Where metrics go. Default: the global meter provider's meter for `@idemkit/otel`. */
  meter?: Meter;
  /** `false` makes no spans (metrics only). Default `true`. */
  spans?: boolean;
  /**
   * Put the stored key on spans as `idemkit.key` (never on metrics). Default `false`: a key may be
   * sensitive (an order number, an email address, the scope's account id), and traces travel far.
   */
  recordKeys?: boolean;
}

/** Anything events can be subscribed on: an idemkit instance. */
export interface EventSource {
  on(listener: IdempotencyEventListener): () => void;
}

/**
 * Traces and metrics for an idemkit instance: a span per idempotent call with its outcome, counters
 * per outcome, duration histograms for calls and store calls. Returns the unsubscribe function.
 * Call it once the OpenTelemetry SDK is started, or pass `tracer` and `meter`.
 */
export function instrument(idem: EventSource, options: OtelOptions = {}): () => void {
  if (typeof (idem as EventSource | null | undefined)?.on !== "function") {
    throw new TypeError("@idemkit/otel: instrument needs an idemkit instance (createIdempotency's result)");
  }
  // A second listener would record every span and metric twice, and nothing would say so.
  if (instrumented.has(idem)) {
    throw new TypeError(
      "@idemkit/otel: this idemkit instance is already instrumented: its spans and metrics would be " +
        "recorded twice. Call the function the first instrument() returned before instrumenting it again",
    );
  }
  const off = idem.on(otelListener(options));
  instrumented.add(idem);
  let subscribed = true;
  return () => {
    if (!subscribed) return;
    subscribed = false;
    off();
    instrumented.delete(idem);
  };
}

/** The instances `instrument` listens to now. */
const instrumented = new WeakSet<EventSource>();

/**
 * The listener `instrument` subscribes, for an `onEvent` option:
 * `createIdempotency({ store, onEvent: otelListener() })`. The global providers are read at the first
 * event, so an SDK started after this call (but before any request) is used.
 */
export function otelListener(options: OtelOptions = {}): IdempotencyEventListener {
  checkOptions(options);
  const spans = options.spans !== false;
  const recordKeys = options.recordKeys === true;
  let tracer: Tracer | undefined;
  let callMetrics: CallMetrics | undefined;
  return (event) => {
    callMetrics ??= new CallMetrics(options.meter ?? metrics.getMeter(INSTRUMENTATION_NAME));
    callMetrics.record(event);
    if (spans && event.type === "finished") {
      tracer ??= options.tracer ?? trace.getTracer(INSTRUMENTATION_NAME);
      recordCallSpan(tracer, event, recordKeys);
    }
  };
}

const OPTION_NAMES: readonly string[] = ["tracer", "meter", "spans", "recordKeys"];

/**
 * Refuses a bad option when it is given: once subscribed, a listener's errors are swallowed by core,
 * so a misspelt or mistyped option would otherwise leave an app without telemetry, silently.
 */
function checkOptions(options: OtelOptions): void {
  const fail = (message: string) => {
    throw new TypeError(`@idemkit/otel: ${message}`);
  };
  if (options === null || typeof options !== "object") fail("options must be an object");
  for (const name of Object.keys(options)) {
    if (!OPTION_NAMES.includes(name)) fail(`unknown option ${name} (options: ${OPTION_NAMES.join(", ")})`);
  }
  const { tracer, meter, spans, recordKeys } = options;
  if (tracer !== undefined && typeof (tracer as Partial<Tracer> | null)?.startSpan !== "function") {
    fail("tracer must be an OpenTelemetry Tracer (with startSpan)");
  }
  if (meter !== undefined && typeof (meter as Partial<Meter> | null)?.createCounter !== "function") {
    fail("meter must be an OpenTelemetry Meter (with createCounter)");
  }
  if (spans !== undefined && typeof spans !== "boolean") fail("spans must be true or false");
  if (recordKeys !== undefined && typeof recordKeys !== "boolean") fail("recordKeys must be true or false");
}
