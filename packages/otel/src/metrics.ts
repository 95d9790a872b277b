import type { IdempotencyEvent } from "@idemkit/core";
import type { Counter, Histogram, Meter } from "@opentelemetry/api";
import { ATTR, callMetricAttributes, errorName } from "./attributes.js";

/** Buckets for a whole call, in seconds: OpenTelemetry's advice for HTTP request durations. */
const CALL_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
/** Buckets for one store call, in seconds: from half a millisecond up to past the default timeout. */
const STORE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** idemkit's instruments on one meter, fed by events. Durations are in seconds, as OpenTelemetry's are. */
export class CallMetrics {
  readonly #calls: Counter;
  readonly #callDuration: Histogram;
  readonly #storeDuration: Histogram;
  readonly #leasesLost: Counter;
  readonly #takeovers: Counter;

  constructor(meter: Meter) {
    this.#calls = meter.createCounter("idemkit.calls", {
      description: "Idempotent calls (HTTP requests with a key, run() calls), by outcome.",
      unit: "{call}",
    });
    this.#callDuration = meter.createHistogram("idemkit.call.duration", {
      description: "How long idempotent calls took, from reaching idemkit to their outcome.",
      unit: "s",
      advice: { explicitBucketBoundaries: CALL_BUCKETS },
    });
    this.#storeDuration = meter.createHistogram("idemkit.store.duration", {
      description: "How long store calls took, by operation; failed ones carry error.type.",
      unit: "s",
      advice: { explicitBucketBoundaries: STORE_BUCKETS },
    });
    this.#leasesLost = meter.createCounter("idemkit.lease.lost", {
      description: "Leases lost, or no longer renewed past maxHoldMs, by phase.",
      unit: "{lease}",
    });
    this.#takeovers = meter.createCounter("idemkit.takeovers", {
      description: "Keys taken over from an expired lease that was never released.",
      unit: "{takeover}",
    });
  }

  record(event: IdempotencyEvent): void {
    switch (event.type) {
      case "finished": {
        const attributes = callMetricAttributes(event);
        this.#calls.add(1, attributes);
        this.#callDuration.record(event.durationMs / 1000, attributes);
        break;
      }
      case "store-call":
        this.#storeDuration.record(event.durationMs / 1000, { [ATTR.storeOperation]: event.operation });
        break;
      case "store-error":
        this.#storeDuration.record(event.durationMs / 1000, {
          [ATTR.storeOperation]: event.operation,
          [ATTR.errorType]: errorName(event.error),
        });
        break;
      case "lease-lost":
        this.#leasesLost.add(1, { [ATTR.leasePhase]: event.phase });
        break;
      case "takeover":
        this.#takeovers.add(1);
        break;
    }
  }
}
