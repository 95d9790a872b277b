import { describe, expect, it } from "vitest";
import { createIdempotency } from "./idempotency.js";
import { createMemoryStore } from "./memory-store.js";

const store = createMemoryStore();

describe("engine options are checked when given, each error naming the option and its range (issue 13, item 1)", () => {
  it.each([
    // Node's timer cuts a longer delay to 1 ms: every store call would time out at once (503).
    [{ storeTimeoutMs: 2 ** 31 }, /storeTimeoutMs must be an integer from 1 to 2147483647; got 2147483648/],
    [{ storeTimeoutMs: 0 }, /storeTimeoutMs must be an integer from 1 to 2147483647; got 0/],
    // PostgreSQL's interval (1e16) and Redis's PX (1e19) cannot hold these: every claim would fail.
    [{ retentionMs: 1e16 }, /retentionMs must be an integer from 1 to 315360000000; got 10000000000000000/],
    [
      { retentionMs: 1e19 },
      /retentionMs must be an integer from 1 to 315360000000; got 10000000000000000000/,
    ],
    [{ retentionMs: Number.NaN }, /retentionMs must be an integer from 1 to 315360000000; got NaN/],
    [{ leaseMs: 2 ** 31 }, /leaseMs must be an integer from 2 to 2147483647/],
    [{ leaseMs: 1.5 }, /leaseMs must be an integer from 2 to 2147483647; got 1.5/],
    [{ leaseMs: 100, heartbeatMs: 100 }, /heartbeatMs must be an integer from 1 to 99; got 100/],
    [
      { leaseMs: 1000, maxHoldMs: 999 },
      /maxHoldMs must be an integer from 1000 \(leaseMs\) to 9007199254740991, or Infinity; got 999/,
    ],
    [{ maxHoldMs: 60_000.5 }, /maxHoldMs must be an integer from 30000 \(leaseMs\)/],
    [{ maxHoldMs: Number.NaN }, /maxHoldMs must be an integer .*; got NaN/],
    [{ maxHoldMs: "1h" }, /maxHoldMs must be an integer .*; got "1h"/],
    [{ maxHoldMs: -1 }, /maxHoldMs must be an integer .*; got -1/],
    [{ maxHoldMs: Number.NEGATIVE_INFINITY }, /maxHoldMs must be an integer .*; got -Infinity/],
  ])("refuses %o with a RangeError", (options, message) => {
    expect(() => createIdempotency({ store, ...(options as object) })).toThrow(RangeError);
    expect(() => createIdempotency({ store, ...(options as object) })).toThrow(message);
  });

  it.each([
    { storeTimeoutMs: 2 ** 31 - 1 },
    { retentionMs: 10 * 365 * 24 * 60 * 60 * 1000 },
    // A lease longer than the retention is fine: stores keep a record retentionMs past its lease
    // end, so a takeover still sees the fence (docs/design.md#state-machine, rule 7).
    { leaseMs: 300_000, retentionMs: 60_000 },
    { leaseMs: 1000, maxHoldMs: 1000 },
    { maxHoldMs: Number.POSITIVE_INFINITY },
    { maxHoldMs: Number.MAX_SAFE_INTEGER },
  ])("accepts %o", (options) => {
    expect(() => createIdempotency({ store, ...options })).not.toThrow();
  });

  it("names maxHoldMs among the known options when one is misspelt", () => {
    expect(() => createIdempotency({ store, maxHoldMS: 1000 } as never)).toThrow(
      /unknown option "maxHoldMS" \(known: .*maxHoldMs/,
    );
  });
});
