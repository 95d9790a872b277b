import { createMemoryStore, type IdempotencyStore } from "@idemkit/core";
import { describe, expect, it } from "vitest";
import { boundedLeaseMs, deadlineBoundStore, deadlineOf, underDeadline } from "./deadline.js";
import { makeHttpIdempotent } from "./http-handler.js";
import { fakeContext } from "./testing/context.js";
import { restApiEvent } from "./testing/events.js";
import { sleep } from "./testing/gate.js";

/** The memory store, with the lease of every claim and extend noted, and when it was asked for. */
function recordingStore(onClaim?: () => void) {
  const store = createMemoryStore();
  const leases: { call: "claim" | "extend"; token: string; leaseMs: number; at: number }[] = [];
  const recording: IdempotencyStore = {
    ...store,
    claim: (key, request) => {
      onClaim?.();
      leases.push({ call: "claim", token: request.token, leaseMs: request.leaseMs, at: performance.now() });
      return store.claim(key, request);
    },
    extend: (key, token, leaseMs) => {
      leases.push({ call: "extend", token, leaseMs, at: performance.now() });
      return store.extend(key, token, leaseMs);
    },
  };
  return { store: recording, leases };
}

const claimRequest = { token: "t", fingerprint: "", leaseMs: 30_000, retentionMs: 60_000 };

describe("the lease rule: min(leaseMs, deadline + margin - now)", () => {
  it("ends at the deadline plus the margin when leaseMs would go past it, never later", () => {
    expect(boundedLeaseMs(900_000, 10_000, 1_000, 2_000)).toBe(9_000);
    expect(boundedLeaseMs(5_000, 10_000, 1_000, 2_000)).toBe(5_000);
    expect(boundedLeaseMs(900_000, 10_000, 0, 9_999.2)).toBe(1); // rounded up to a whole ms
    expect(boundedLeaseMs(900_000, 10_000, 1_000, 20_000)).toBe(1); // past it: ends at once
  });

  it("the lease end only moves forward as the invocation goes on", () => {
    let previousEnd = 0;
    for (let now = 0; now <= 12_000; now += 500) {
      const end = now + boundedLeaseMs(3_000, 10_000, 1_000, now);
      expect(end).toBeGreaterThanOrEqual(previousEnd);
      expect(end).toBeLessThanOrEqual(Math.max(11_000, now + 1)); // past it: 1 ms, the least a store takes
      previousEnd = end;
    }
  });
});

describe("deadlineBoundStore", () => {
  it("bounds claims and extends made under a deadline, and only those", async () => {
    const { store, leases } = recordingStore();
    const bounded = deadlineBoundStore(store, 1_000);
    await bounded.claim("free", claimRequest);
    await underDeadline(performance.now() + 2_000, async () => {
      await bounded.claim("k", claimRequest);
      await bounded.extend("k", "t", 30_000);
    });
    expect(leases[0]).toMatchObject({ call: "claim", leaseMs: 30_000 });
    for (const bound of leases.slice(1)) expect(bound.leaseMs).toBeLessThanOrEqual(3_000);
    expect(leases.slice(1).map((l) => l.call)).toEqual(["claim", "extend"]);
    expect((await bounded.get("k"))?.state).toBe("in_progress"); // other calls pass through
  });

  it("keeps each invocation's deadline apart when two run at once", async () => {
    const { store, leases } = recordingStore();
    const bounded = deadlineBoundStore(store, 0);
    const invocation = (remainingMs: number, key: string) =>
      underDeadline(performance.now() + remainingMs, async () => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        await bounded.claim(key, { ...claimRequest, token: key });
      });
    // The short one claims first, while the long one's deadline is also in force.
    await Promise.all([invocation(60_000, "long"), invocation(2_000, "short")]);
    const leaseOf = (token: string) => leases.find((l) => l.token === token)!.leaseMs;
    expect(leaseOf("short")).toBeLessThanOrEqual(2_000);
    expect(leaseOf("long")).toBeGreaterThan(2_000);
  });

  it("keeps what a store offers beyond the six calls, bound to the store", () => {
    const store = Object.assign(createMemoryStore(), {
      name: "custom",
      describe() {
        return this.name;
      },
    });
    const bounded = deadlineBoundStore(store, 0) as typeof store;
    expect(bounded.describe()).toBe("custom");
  });
});

describe("deadlineOf", () => {
  it("needs the Lambda context", () => {
    for (const context of [undefined, {}, { getRemainingTimeInMillis: () => "soon" }]) {
      expect(() => deadlineOf(context as never)).toThrow(/needs the Lambda context/);
    }
  });

  it("takes a negative remaining time as none left", () => {
    const before = performance.now();
    expect(deadlineOf({ getRemainingTimeInMillis: () => -50 })).toBeLessThanOrEqual(performance.now());
    expect(deadlineOf({ getRemainingTimeInMillis: () => -50 })).toBeGreaterThanOrEqual(before);
  });
});

describe("an idempotent handler's leases", () => {
  const created = (key: string) =>
    restApiEvent({ headers: [["Idempotency-Key", key]], body: "{}" }) as Parameters<
      ReturnType<typeof makeHttpIdempotent>
    >[0];

  it("by default, the claim's lease covers the time the invocation has left, plus the margin, and no more", async () => {
    const context = fakeContext(5_000);
    const left: number[] = [];
    const { store, leases } = recordingStore(() => left.push(context.getRemainingTimeInMillis()));
    const handler = makeHttpIdempotent(async () => ({ statusCode: 201, body: "" }), {
      store,
      scope: "global",
    });
    const leftAtStart = context.getRemainingTimeInMillis();
    await handler(created("lease-1"), context);
    const [claim] = leases;
    expect(claim?.call).toBe("claim");
    // The lease is worked out between the handler's start and the store's call: not shorter than what
    // is left at the call (no duplicate can take over while it runs), nor longer than what was left at
    // the start plus the margin; give or take the clocks' rounding (the context's whole ms). (Bounding
    // both by the time left at the call failed once under load: a pause between the two read 4 ms.)
    expect(claim!.leaseMs).toBeGreaterThanOrEqual(left[0]! - 2);
    expect(claim!.leaseMs).toBeLessThanOrEqual(leftAtStart + 1_000 + 2);
  });

  it("with a shorter leaseMs, the heartbeat renews it while the invocation runs, never past the deadline", async () => {
    const { store, leases } = recordingStore();
    const margin = 20;
    const remaining = 400;
    let deadline = 0;
    // Renewed while it runs, until a renewal near the deadline asked for less than leaseMs.
    const renewedNearDeadline = () => leases.some((l) => l.call === "extend" && l.leaseMs < 90);
    const handler = makeHttpIdempotent(
      async () => {
        for (let waited = 0; !renewedNearDeadline() && waited < 5_000; waited += 10) await sleep(10);
        return { statusCode: 201, body: "" };
      },
      { store, scope: "global", leaseMs: 90, heartbeatMs: 30, deadlineMarginMs: margin },
    );
    const context = fakeContext(remaining);
    deadline = performance.now() + remaining;
    await handler(created("lease-2"), context);
    expect(leases.filter((l) => l.call === "extend").length).toBeGreaterThan(3);
    expect(renewedNearDeadline()).toBe(true);
    for (const lease of leases) {
      expect(lease.leaseMs).toBeLessThanOrEqual(90);
      // The deadline as the handler saw it may be a millisecond later (Date.now() is in whole ms).
      expect(lease.at + lease.leaseMs).toBeLessThanOrEqual(Math.max(deadline + margin, lease.at + 1) + 2);
    }
  });
});
