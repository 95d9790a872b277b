import {
  ConflictError,
  createIdempotency,
  createMemoryStore,
  MismatchError,
  StoreUnavailableError,
} from "@idemkit/core";
import { context, metrics, SpanStatusCode, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { afterEach, describe, expect, it } from "vitest";
import { instrument, otelListener } from "./instrument.js";
import { downStore } from "./testing/orders-app.js";
import { type Telemetry, telemetry } from "./testing/telemetry.js";

let otel: Telemetry;
afterEach(async () => {
  await otel?.shutdown();
});

/** An instance instrumented with the test's SDK. */
function instrumented(options: { store?: ReturnType<typeof downStore> } = {}) {
  otel = telemetry();
  const idem = createIdempotency({ store: options.store ?? createMemoryStore() });
  instrument(idem, { tracer: otel.tracer, meter: otel.meter });
  return idem;
}

/** Work that runs until released; `running` resolves once it has started. */
function heldWork() {
  let release!: () => void;
  let started!: () => void;
  const running = new Promise<void>((r) => (started = r));
  const work = () => {
    started();
    return new Promise<void>((r) => (release = r));
  };
  return { work, running, release: () => release() };
}

const outcomes = () => otel.callSpans().map((s) => [s.name, s.attributes["idemkit.outcome"]]);

describe("spans and metrics of run()", () => {
  it("executed then replayed, named by run's name, with the fence; counted per outcome", async () => {
    const idem = instrumented();
    await idem.run({ key: "order-17", name: "charge-card" }, () => "receipt");
    await idem.run({ key: "order-17", name: "charge-card" }, () => "again");
    expect(outcomes()).toEqual([
      ["idemkit run charge-card", "executed"],
      ["idemkit run charge-card", "replayed"],
    ]);
    expect(otel.callSpans()[0]?.attributes).toEqual({
      "idemkit.outcome": "executed",
      "idemkit.run.name": "charge-card",
      "idemkit.fence": 1,
    });
    expect(await otel.totals("idemkit.calls")).toEqual([
      { attributes: { "idemkit.outcome": "executed", "idemkit.run.name": "charge-card" }, value: 1 },
      { attributes: { "idemkit.outcome": "replayed", "idemkit.run.name": "charge-card" }, value: 1 },
    ]);
    expect(await otel.totals("idemkit.call.duration")).toHaveLength(2);
  });

  it("conflict for a concurrent duplicate, mismatch for other input", async () => {
    const idem = instrumented();
    const held = heldWork();
    const first = idem.run({ key: "k", input: 1 }, held.work);
    await held.running;
    await expect(idem.run({ key: "k", input: 1 }, () => undefined)).rejects.toBeInstanceOf(ConflictError);
    held.release();
    await first;
    await expect(idem.run({ key: "k", input: 2 }, () => undefined)).rejects.toBeInstanceOf(MismatchError);
    expect(outcomes()).toEqual([
      ["idemkit run", "conflict"],
      ["idemkit run", "executed"],
      ["idemkit run", "mismatch"],
    ]);
    for (const span of otel.callSpans()) expect(span.status.code).toBe(SpanStatusCode.UNSET);
  });

  it("unavailable (a store that rejects) and failed (the work threw): spans in error with their exception", async () => {
    const down = instrumented({ store: downStore() });
    await expect(down.run({ key: "k" }, () => 1)).rejects.toBeInstanceOf(StoreUnavailableError);
    const [unavailable] = otel.callSpans();
    expect(unavailable?.attributes).toMatchObject({
      "idemkit.outcome": "unavailable",
      "error.type": "StoreUnavailableError",
    });
    expect(unavailable?.status.code).toBe(SpanStatusCode.ERROR);
    await otel.shutdown();

    const idem = instrumented();
    await expect(
      idem.run({ key: "k" }, () => Promise.reject(new RangeError("card declined"))),
    ).rejects.toThrow();
    const [failed] = otel.callSpans();
    expect(failed?.attributes).toMatchObject({ "idemkit.outcome": "failed", "error.type": "RangeError" });
    expect(failed?.events[0]?.attributes).toMatchObject({ "exception.message": "card declined" });
    expect(await otel.totals("idemkit.calls")).toEqual([
      { attributes: { "idemkit.outcome": "failed", "error.type": "RangeError" }, value: 1 },
    ]);
  });

  it("is a child of the span active around the call", async () => {
    const manager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(manager);
    try {
      const idem = instrumented();
      const parent = otel.tracer.startSpan("consume message");
      await context.with(trace.setSpan(context.active(), parent), () => idem.run({ key: "m-1" }, () => 1));
      parent.end();
      expect(otel.callSpans()[0]?.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
    } finally {
      context.disable();
    }
  });

  it("uses the global providers read at the first event, so an SDK started after instrument() counts", async () => {
    const idem = createIdempotency({ store: createMemoryStore() });
    instrument(idem);
    otel = telemetry();
    trace.setGlobalTracerProvider(otel.tracerProvider);
    metrics.setGlobalMeterProvider(otel.meterProvider);
    try {
      await idem.run({ key: "k" }, () => 1);
      expect(outcomes()).toEqual([["idemkit run", "executed"]]);
      expect(await otel.totals("idemkit.calls")).toHaveLength(1);
      const scope = otel.callSpans()[0]?.instrumentationScope;
      expect(scope?.name).toBe("@idemkit/otel");
    } finally {
      trace.disable();
      metrics.disable();
    }
  });

  it("as an onEvent listener, with spans off: metrics only, takeovers and lost leases counted", async () => {
    otel = telemetry();
    const store = createMemoryStore();
    const onEvent = otelListener({ tracer: otel.tracer, meter: otel.meter, spans: false });
    const idem = createIdempotency({ store, onEvent, leaseMs: 100, maxHoldMs: 100 });
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    // An owner that crashed: its lease runs out unreleased, and the next call takes the key over.
    await store.claim("idem:run:0::k", {
      token: "crashed",
      fingerprint: "",
      leaseMs: 20,
      retentionMs: 60_000,
    });
    await sleep(50);
    await idem.run({ key: "k" }, () => 2);
    // Work that holds its key past maxHoldMs: its lease is no longer renewed.
    await idem.run({ key: "slow" }, () => sleep(250)).catch(() => {});
    expect(otel.callSpans()).toEqual([]);
    expect(await otel.totals("idemkit.takeovers")).toEqual([{ attributes: {}, value: 1 }]);
    const lost = await otel.totals("idemkit.lease.lost");
    expect(lost.map((l) => l.attributes["idemkit.lease.phase"])).toContain("max-hold");
  });

  it("refuses to instrument an instance twice (every span and metric would count twice); once stopped, it may again", async () => {
    otel = telemetry();
    const idem = createIdempotency({ store: createMemoryStore() });
    const stop = instrument(idem, { tracer: otel.tracer, meter: otel.meter });
    expect(() => instrument(idem, { tracer: otel.tracer, meter: otel.meter })).toThrow(
      /this idemkit instance is already instrumented: its spans and metrics would be recorded twice/,
    );
    await idem.run({ key: "a" }, () => 1);
    stop();
    stop();
    await idem.run({ key: "b" }, () => 2);
    instrument(idem, { tracer: otel.tracer, meter: otel.meter });
    await idem.run({ key: "c" }, () => 3);
    expect(otel.callSpans()).toHaveLength(2);
    expect(await otel.totals("idemkit.calls")).toEqual([
      { attributes: { "idemkit.outcome": "executed" }, value: 2 },
    ]);
  });

  it("refuses options that are not an object", () => {
    expect(() => otelListener(null as never)).toThrow(TypeError);
  });

  it("refuses a bad option when given, not silently at the first event", () => {
    const idem = createIdempotency({ store: createMemoryStore() });
    expect(() => instrument(idem, { recordKey: true } as never)).toThrow(
      "@idemkit/otel: unknown option recordKey (options: tracer, meter, spans, recordKeys)",
    );
    expect(() => instrument(idem, { tracer: 5 } as never)).toThrow(/tracer must be an OpenTelemetry Tracer/);
    expect(() => otelListener({ meter: {} } as never)).toThrow(/meter must be an OpenTelemetry Meter/);
    expect(() => otelListener({ spans: "no" } as never)).toThrow(
      "@idemkit/otel: spans must be true or false",
    );
    expect(() => otelListener({ recordKeys: 1 } as never)).toThrow(/recordKeys must be true or false/);
    expect(() => instrument(null as never)).toThrow(/instrument needs an idemkit instance/);
  });
});
