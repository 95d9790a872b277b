import { createIdempotency, createMemoryStore } from "@idemkit/core";
import { afterEach, describe, expect, it } from "vitest";
import { instrument } from "./instrument.js";
import { type Telemetry, telemetry } from "./testing/telemetry.js";

let otel: Telemetry;
afterEach(async () => {
  await otel?.shutdown();
});

describe("a covered method outside OpenTelemetry's list", () => {
  it("is _OTHER on spans and metrics (a bounded set), its span named HTTP, the method itself kept as method_original", async () => {
    otel = telemetry();
    const idem = createIdempotency({
      store: createMemoryStore(),
      scope: "global",
      methods: ["POST", "PURGE"],
    });
    instrument(idem, { tracer: otel.tracer, meter: otel.meter });
    const handler = idem.wrap(async () => new Response("gone", { status: 200 }));
    const purge = () =>
      new Request("http://idemkit.test/cache/1", {
        method: "PURGE",
        headers: { "idempotency-key": '"k-1"' },
      });
    expect((await handler(purge())).status).toBe(200);
    const [span] = otel.callSpans();
    expect(span?.name).toBe("idemkit HTTP");
    expect(span?.attributes["http.request.method"]).toBe("_OTHER");
    expect(span?.attributes["http.request.method_original"]).toBe("PURGE");
    const calls = await otel.points("idemkit.calls");
    expect(calls.map((p) => p.attributes["http.request.method"])).toEqual(["_OTHER"]);
    expect(calls.every((p) => !("http.request.method_original" in p.attributes))).toBe(true);
  });
});
