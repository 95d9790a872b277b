import { describe, expect, it } from "vitest";
import { createIdempotency } from "./idempotency.js";
import { type EventLogger, type LogEventsOptions, logEvents } from "./log-events.js";
import { createMemoryStore } from "./memory-store.js";
import type { IdempotencyStore } from "./store.js";

interface Line {
  level: string;
  fields: Record<string, unknown>;
  message: string;
}

/** A logger that keeps its lines, with or without `debug`. */
function memoryLogger(withDebug = true) {
  const lines: Line[] = [];
  const method = (level: string) => (fields: Record<string, unknown>, message: string) =>
    lines.push({ level, fields, message });
  const logger: EventLogger = { info: method("info"), warn: method("warn"), error: method("error") };
  if (withDebug) logger.debug = method("debug");
  return { logger, lines };
}

function logged(options?: LogEventsOptions, store: IdempotencyStore = createMemoryStore(), withDebug = true) {
  const { logger, lines } = memoryLogger(withDebug);
  const idem = createIdempotency({ store, scope: "global" });
  idem.on(logEvents(logger, options));
  return { idem, lines };
}

const downStore = (): IdempotencyStore => {
  const down = () => Promise.reject(new Error("connection refused"));
  return new Proxy(createMemoryStore(), {
    get: (store, name) => (typeof Reflect.get(store, name) === "function" ? down : Reflect.get(store, name)),
  });
};

describe("logEvents", () => {
  it("writes one info line per call, fields under idemkit, and no key unless asked", async () => {
    const { idem, lines } = logged();
    await idem.run({ key: "order-17", name: "charge-card" }, () => 1);
    await idem.run({ key: "order-17", name: "charge-card" }, () => 1);
    expect(lines.map((l) => [l.level, l.message.replace(/\d+ ms$/, "N ms")])).toEqual([
      ["info", "idemkit: run charge-card executed in N ms"],
      ["info", "idemkit: run charge-card replayed in N ms"],
    ]);
    expect(lines[0]?.fields).toEqual({
      idemkit: {
        event: "finished",
        outcome: "executed",
        fence: 1,
        name: "charge-card",
        durationMs: expect.any(Number),
      },
    });
    expect(JSON.stringify(lines)).not.toContain("order-17");

    const keyed = logged({ recordKeys: true });
    await keyed.idem.run({ key: "order-17" }, () => 1);
    expect(keyed.lines[0]?.fields.idemkit).toMatchObject({ key: "idem:run:0::order-17" });
  });

  it("warns for a rejected request and a mismatch, with the HTTP request in the line", async () => {
    const { idem, lines } = logged();
    const app = idem.wrap(() => new Response("ok", { status: 201 }));
    const post = (key: string, body: string) =>
      new Request("http://x/orders?token=t", { method: "POST", headers: { "idempotency-key": key }, body });
    await app(post('"a", "b"', "1"));
    await app(post("k", "1"));
    await app(post("k", "2"));
    expect(lines.map((l) => [l.level, l.message.replace(/\d+ ms$/, "N ms")])).toEqual([
      ["warn", "idemkit: POST /orders rejected 400 in N ms"],
      ["info", "idemkit: POST /orders executed 201 in N ms"],
      ["warn", "idemkit: POST /orders mismatch 422 in N ms"],
    ]);
    expect(lines[0]?.fields.idemkit).toMatchObject({
      reason: "key-invalid",
      http: { method: "POST", status: 400 },
    });
  });

  it("logs a store that is down as errors, the store's error under err", async () => {
    const { idem, lines } = logged({}, downStore());
    await expect(idem.run({ key: "k" }, () => 1)).rejects.toThrow();
    expect(lines.map((l) => [l.level, l.message.replace(/\d+ ms$/, "N ms")])).toEqual([
      ["error", "idemkit: store claim failed"],
      ["error", "idemkit: store claim failed"],
      ["error", "idemkit: run unavailable in N ms"],
    ]);
    expect(lines[0]?.fields.err).toBeInstanceOf(Error);
    expect(lines[2]?.fields.err).toMatchObject({ name: "StoreUnavailableError" });
  });

  it("with details, logs the state machine's events at debug; a logger without debug gets none", async () => {
    const { idem, lines } = logged({ details: true });
    await idem.run({ key: "k" }, () => 1);
    expect(
      lines.map((l) => [l.level, l.fields.idemkit && (l.fields.idemkit as { event: string }).event]),
    ).toEqual([
      ["debug", "store-call"],
      ["debug", "claimed"],
      ["debug", "store-call"],
      ["debug", "completed"],
      ["info", "finished"],
    ]);
    const plain = logged({ details: true }, createMemoryStore(), false);
    await plain.idem.run({ key: "k" }, () => 1);
    expect(plain.lines.map((l) => l.level)).toEqual(["info"]);
  });

  it("takes console as it is, and a logger that throws never breaks a call", async () => {
    const typed: EventLogger = console; // console's methods fit
    expect(typeof typed.info).toBe("function");
    const idem = createIdempotency({ store: createMemoryStore(), scope: "global" });
    const broken = () => {
      throw new Error("log sink down");
    };
    idem.on(logEvents({ info: broken, warn: broken, error: broken, debug: broken }, { details: true }));
    expect(await idem.run({ key: "k" }, () => 7)).toBe(7);
  });

  it("refuses, when given, a logger without info, warn or error (debug is optional)", () => {
    const noop = () => {};
    expect(() => logEvents(null as never)).toThrow(TypeError);
    expect(() => logEvents({ info: noop, error: noop } as never)).toThrow(
      "logEvents: the logger has no warn method",
    );
    expect(() => logEvents({ info: noop, warn: noop, error: noop })).not.toThrow();
  });
});
