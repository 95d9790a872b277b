import { inspect } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { ConflictError, IdempotencyError, MismatchError, StoreUnavailableError } from "./errors.js";
import { createIdempotency } from "./idempotency.js";
import { createMemoryStore } from "./memory-store.js";
import type { IdempotencyRecord } from "./store.js";

const limit = Object.getOwnPropertyDescriptor(Error, "stackTraceLimit");
afterEach(() => {
  if (limit) Object.defineProperty(Error, "stackTraceLimit", limit);
});

const record: IdempotencyRecord = {
  state: "in_progress",
  token: "t",
  fingerprint: "f",
  fence: 1,
  leaseExpiresAt: 0,
  takeover: false,
};

describe("ConflictError", () => {
  it("is made without a stack trace: its stack is its first line", () => {
    const error = new ConflictError("k", record);
    expect(error.stack).toBe('ConflictError: A request with idempotency key "k" is still in progress');
    expect(error).toBeInstanceOf(IdempotencyError);
    expect(error).toBeInstanceOf(Error);
    expect([error.name, error.code, error.record]).toEqual(["ConflictError", "conflict", record]);
  });

  it("leaves Error.stackTraceLimit as it found it, whatever it was", () => {
    for (const value of [10, 0, 37, Number.POSITIVE_INFINITY]) {
      Error.stackTraceLimit = value;
      new ConflictError("k", record);
      expect(Error.stackTraceLimit).toBe(value);
    }
  });

  it("a caller's own run taken over (no record) keeps its stack trace", () => {
    expect(new ConflictError("k", undefined).stack).toMatch(/\n\s+at /);
  });

  it("puts the limit back when the construction throws (a subclass whose name has only a getter)", () => {
    class Named extends ConflictError {
      override get name() {
        return "Named";
      }
    }
    Error.stackTraceLimit = 12;
    expect(() => new Named("k", record)).toThrow(TypeError);
    expect(Error.stackTraceLimit).toBe(12);
  });

  it("builds its message before the limit is lowered: a key that throws when read keeps its frames", () => {
    const key = {
      toString: () => {
        throw new Error("bad key");
      },
    } as unknown as string;
    const thrown = (() => {
      try {
        new ConflictError(key, record);
      } catch (e) {
        return e as Error;
      }
    })();
    expect(thrown?.message).toBe("bad key");
    expect(thrown?.stack).toMatch(/\n\s+at /);
  });

  it("leaves an accessor limit alone, never calling its setter", () => {
    let sets = 0;
    Object.defineProperty(Error, "stackTraceLimit", {
      configurable: true,
      get: () => 10,
      set: () => void sets++,
    });
    const error = new ConflictError("k", record);
    expect(sets).toBe(0);
    expect(error.code).toBe("conflict");
  });

  it("other errors keep their stack traces", () => {
    for (const error of [
      new MismatchError("k", record),
      new StoreUnavailableError("claim", new Error("x")),
    ]) {
      expect(error.stack).toMatch(/\n\s+at /);
    }
    expect(new Error("plain").stack).toMatch(/\n\s+at /);
  });

  it("is made as usual where Error.stackTraceLimit cannot be set (a frozen Error)", () => {
    Object.defineProperty(Error, "stackTraceLimit", { value: 10, writable: false, configurable: true });
    const error = new ConflictError("k", record);
    expect(error.message).toBe('A request with idempotency key "k" is still in progress');
    expect(error.stack).toMatch(/\n\s+at /);
    expect(Error.stackTraceLimit).toBe(10);
  });

  it("is made as usual where the runtime has no stackTraceLimit", () => {
    Reflect.deleteProperty(Error, "stackTraceLimit");
    const error = new ConflictError("k", record);
    expect(error.code).toBe("conflict");
    expect("stackTraceLimit" in Error).toBe(false);
  });

  it("a run's concurrent duplicate gets one without frames", async () => {
    const idem = createIdempotency({ store: createMemoryStore() });
    let release = () => {};
    const first = idem.run(
      { key: "k" },
      () => new Promise<string>((resolve) => (release = () => resolve("v"))),
    );
    await new Promise((resolve) => setTimeout(resolve, 5));
    const error = await idem.run({ key: "k" }, async () => "w").catch((e: unknown) => e);
    release();
    await expect(first).resolves.toBe("v");
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as Error).stack).not.toMatch(/\n\s+at /);
  });
});

describe("the record a conflict or a mismatch carries", () => {
  const completed: IdempotencyRecord = {
    state: "completed",
    token: "lease-token-1",
    fingerprint: "f",
    fence: 3,
    result: new TextEncoder().encode('{"card":"4242"}'),
    expiresAt: 0,
  };
  /** What a logger's error serializer writes (pino's and bunyan's copy the enumerable fields, for…in). */
  const logged = (error: Error) => {
    const fields: Record<string, unknown> = { type: error.name, message: error.message, stack: error.stack };
    for (const name in error) fields[name] = (error as unknown as Record<string, unknown>)[name];
    return JSON.stringify(fields);
  };

  for (const [what, make] of [
    ["ConflictError", () => new ConflictError("k", { ...record, token: "lease-token-1" })],
    ["MismatchError", () => new MismatchError("k", completed)],
  ] as const) {
    it(`${what}: reads as error.record, and no log, JSON or inspection of the error shows it`, () => {
      const error = make();
      expect(error.record?.token).toBe("lease-token-1");
      expect(Object.keys(error)).not.toContain("record");
      for (const text of [logged(error), JSON.stringify(error), inspect(error)]) {
        expect(text).not.toContain("lease-token-1");
        expect(text).not.toContain("record");
      }
    });
  }

  it("stays writable: a hook may replace or clear it, a subclass may set it", () => {
    const error = new MismatchError("k", completed) as { record: IdempotencyRecord | undefined };
    error.record = undefined;
    expect(error.record).toBeUndefined();
    class Redacted extends ConflictError {
      constructor(key: string, record: IdempotencyRecord) {
        super(key, record);
        (this as { record: IdempotencyRecord | undefined }).record = { ...record, token: "redacted" };
      }
    }
    const redacted = new Redacted("k", { ...record, token: "lease-token-1" });
    expect(redacted.record?.token).toBe("redacted");
    expect(Object.keys(redacted)).not.toContain("record");
  });

  it("a mismatch thrown by run() holds the stored record, which stays out of what a logger copies", async () => {
    const idem = createIdempotency({ store: createMemoryStore() });
    await idem.run({ key: "k", input: { amount: 1 } }, () => ({ card: "4242" }));
    const error = await idem.run({ key: "k", input: { amount: 2 } }, () => 0).catch((thrown) => thrown);
    expect(error).toBeInstanceOf(MismatchError);
    expect((error as MismatchError).record.state).toBe("completed");
    const line = logged(error);
    expect(line).not.toContain((error as MismatchError).record.token);
    expect(line).not.toContain('"result"');
    expect(JSON.parse(line)).toMatchObject({ type: "MismatchError", code: "mismatch" });
  });
});
