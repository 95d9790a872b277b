import type { Attributes } from "@opentelemetry/api";
import {
  AggregationTemporality,
  type DataPoint,
  type Histogram,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from "@opentelemetry/sdk-metrics";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";

/**
 * The OpenTelemetry SDK with in-memory exporters: what a test reads back is what an exporter would
 * have sent.
 */
export function telemetry() {
  const spanExporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spanExporter)] });
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  // Exported on demand (forceFlush), never on a timer.
  const reader = new PeriodicExportingMetricReader({
    exporter: metricExporter,
    exportIntervalMillis: 3_600_000,
  });
  const meterProvider = new MeterProvider({ readers: [reader] });

  /** The data points of metric `name` now, each with its attributes. */
  async function points(name: string): Promise<DataPoint<number | Histogram>[]> {
    await reader.forceFlush();
    const latest = metricExporter.getMetrics().at(-1);
    const metric = latest?.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === name);
    return (metric?.dataPoints ?? []) as DataPoint<number | Histogram>[];
  }

  return {
    tracerProvider,
    meterProvider,
    tracer: tracerProvider.getTracer("test"),
    meter: meterProvider.getMeter("test"),
    spans: (): ReadableSpan[] => spanExporter.getFinishedSpans(),
    /** The spans idemkit made (named `idemkit …`). */
    callSpans: (): ReadableSpan[] =>
      spanExporter.getFinishedSpans().filter((s) => s.name.startsWith("idemkit ")),
    points,
    /** Counter or histogram-count totals of `name`, by the attributes of each series. */
    async totals(name: string): Promise<{ attributes: Attributes; value: number }[]> {
      return (await points(name)).map(({ attributes, value }) => ({
        attributes,
        value: typeof value === "number" ? value : value.count,
      }));
    },
    async shutdown(): Promise<void> {
      await Promise.all([tracerProvider.shutdown(), meterProvider.shutdown()]);
    },
  };
}

export type Telemetry = ReturnType<typeof telemetry>;
