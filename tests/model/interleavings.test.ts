// Interleavings of core's store calls, explored with fast-check's scheduler (see scheduled-store.ts):
// every store call's arrival and every reply is a scheduled task, so orderings are tried
// deterministically and a failure replays from its seed.
import { randomUUID } from "node:crypto";
import {
  ConflictError,
  composeStoredKey,
  createIdempotency,
  decodeStoredResponse,
  type IdempotencyEvent,
  type IdempotencyStore,
  StoreUnavailableError,
} from "@idemkit/core";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeRunOutcome } from "./outcome.js";
import { scheduledStore } from "./scheduled-store.js";
import { targets, titled, virtualClock } from "./targets.js";

const runsFor = (name: string, embedded: number, server: number) =>
  name === "memory" || name === "sqlite" ? embedded : server;

for (const target of targets) {
  describe.skipIf(Boolean(target.skip))(titled(target, "scheduled interleavings"), () => {
    const clock = virtualClock();
    const injected = target.clock === "injected";
    let opened: Awaited<ReturnType<typeof target.open>>;
    beforeAll(async () => {
      opened = await target.open(injected ? clock.now : undefined);
    });
    afterAll(async () => {
      await opened?.close();
    });

    it("concurrent run() calls for one key: the work runs once, every value is the stored one", {
      timeout: 60_000,
    }, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.scheduler(),
          fc.integer({ min: 2, max: 4 }),
          fc.option(fc.nat({ max: 3 }), { nil: undefined }),
          async (s, callers, lostClaimOf) => {
            const key = `run-${randomUUID()}`;
            let executions = 0;
            const results = await s.waitFor(
              Promise.allSettled(
                Array.from({ length: callers }, (_, i) => {
                  let claims = 0;
                  // Each caller is its own process: its own engine, its own view of the store.
                  const store = scheduledStore(s, opened.store, {
                    label: `P${i}`,
                    // The first claim reply of one caller is lost after the store applied it.
                    loseReply: (op) => op === "claim" && i === lostClaimOf && claims++ === 0,
                  });
                  const idem = createIdempotency({ store, storeTimeoutMs: 10_000 });
                  return idem.execute({ key, input: { amount: 42 } }, async ({ fence }) => {
                    executions++;
                    return { by: i, fence };
                  });
                }),
              ),
            );
            expect(executions).toBe(1);
            const record = await opened.store.get(composeStoredKey("idem:", "run", "", key));
            expect(record?.state).toBe("completed");
            const values = results.flatMap((r) => (r.status === "fulfilled" ? [r.value.value] : []));
            expect(values.length).toBeGreaterThanOrEqual(1);
            for (const value of values) expect(value).toEqual(values[0]);
            if (record?.state === "completed") expect(decodeRunOutcome(record.result)).toEqual(values[0]);
            for (const r of results) {
              // A loser only ever hears "in flight": never a second execution, never a store error.
              if (r.status === "rejected") expect(r.reason).toBeInstanceOf(ConflictError);
            }
          },
        ),
        { numRuns: runsFor(target.name, 150, 25), endOnFailure: !injected },
      );
    });

    it("concurrent handle() calls for one key: one execution, every 2xx equals the stored response", {
      timeout: 60_000,
    }, async () => {
      await fc.assert(
        fc.asyncProperty(fc.scheduler(), fc.integer({ min: 2, max: 4 }), async (s, callers) => {
          const key = `http-${randomUUID()}`;
          let executions = 0;
          const stores: IdempotencyStore[] = [];
          const responses = await s.waitFor(
            Promise.all(
              Array.from({ length: callers }, async (_, i) => {
                const store = scheduledStore(s, opened.store, { label: `W${i}` });
                stores.push(store);
                const idem = createIdempotency({ store, storeTimeoutMs: 10_000, scope: "global" });
                const request = new Request("http://orders.test/orders", {
                  method: "POST",
                  headers: { "idempotency-key": key, "content-type": "application/json" },
                  body: JSON.stringify({ sku: "x", qty: 1 }),
                });
                const response = await idem.handle(request, async (_req, { fence }) => {
                  executions++;
                  return Response.json({ by: i, fence }, { status: 201 });
                });
                return { status: response.status, body: await response.text() };
              }),
            ),
          );
          expect(executions).toBe(1);
          const ok = responses.filter((r) => r.status === 201);
          expect(ok.length).toBeGreaterThanOrEqual(1);
          for (const r of responses) expect([201, 409]).toContain(r.status);
          const records = await Promise.all([opened.store.get(composeStoredKey("idem:", "http", "", key))]);
          const record = records[0];
          expect(record?.state).toBe("completed");
          if (record?.state === "completed") {
            const stored = new TextDecoder().decode(decodeStoredResponse(record.result).body);
            for (const r of ok) expect(r.body).toBe(stored);
          }
        }),
        { numRuns: runsFor(target.name, 150, 25), endOnFailure: !injected },
      );
    });

    it("a claim attempt that lands after its retry decided (the work threw, or completed): never an owner nobody holds", {
      timeout: 60_000,
    }, async () => {
      await fc.assert(
        fc.asyncProperty(fc.scheduler(), fc.boolean(), async (s, throws) => {
          const key = `late-${randomUUID()}`;
          const storedKey = composeStoredKey("idem:", "run", "", key);
          let claims = 0;
          // The first claim is held 300 ms (real time) before it may reach the store: the engine gives
          // up on it after 200 ms and retries; the scheduler then decides where the late one lands.
          const store = scheduledStore(s, opened.store, {
            label: "P",
            late: (op) => (op === "claim" && claims++ === 0 ? 300 : undefined),
          });
          const idem = createIdempotency({ store, storeTimeoutMs: 200 });
          const outcome = await s.waitFor(
            idem
              .run({ key }, () => (throws ? Promise.reject(new Error("work failed")) : "done"))
              .then(
                (value) => ({ value }),
                (error: Error) => ({ error }),
              ),
          );
          // On a loaded machine the retry may time out too: then nothing ran, and the key must be
          // free all the same.
          const unavailable = "error" in outcome && outcome.error instanceof StoreUnavailableError;
          if (!unavailable)
            expect(outcome).toEqual(throws ? { error: new Error("work failed") } : { value: "done" });
          // Every call issued, the late claim and whatever the engine sent after it, has landed.
          await s.waitFor(store.settled());
          const record = await opened.store.get(storedKey);
          if (throws || unavailable) {
            // Released, and the late claim (which may have acquired it again for our token) released too.
            expect(record).toBeUndefined();
            const next = await opened.store.claim(storedKey, {
              token: randomUUID(),
              fingerprint: "",
              leaseMs: 60_000,
              retentionMs: 60_000,
            });
            expect(next.acquired).toBe(true);
          } else {
            expect(record).toMatchObject({ state: "completed", fence: 1 });
          }
        }),
        { numRuns: runsFor(target.name, 12, 5), endOnFailure: !injected },
      );
    });

    // The two below move the store's clock inside the interleaving: injected clocks only.
    it.skipIf(!injected)(
      "heartbeat racing the completion: never reported as a lost lease, outcome kept",
      {
        timeout: 60_000,
      },
      async () => {
        await fc.assert(
          fc.asyncProperty(fc.scheduler(), async (s) => {
            const key = `hb-${randomUUID()}`;
            const events: IdempotencyEvent[] = [];
            let extendIssued!: () => void;
            const firstExtend = new Promise<void>((resolve) => {
              extendIssued = resolve;
            });
            const store = scheduledStore(s, opened.store, {
              label: "owner",
              onIssue: (op) => op === "extend" && extendIssued(),
            });
            // Real 5 ms heartbeats; the lease (judged by the injected clock) never runs out here.
            const idem = createIdempotency({
              store,
              leaseMs: 1000,
              heartbeatMs: 5,
              onEvent: (e) => events.push(e),
            });
            const outcome = await s.waitFor(
              idem.execute({ key }, async ({ signal }) => {
                await firstExtend; // a heartbeat is now in flight, racing the completion below
                return { aborted: signal.aborted };
              }),
            );
            expect(outcome).toEqual({ value: { aborted: false }, replayed: false });
            expect(events.map((e) => e.type)).not.toContain("lease-lost");
            const record = await opened.store.get(composeStoredKey("idem:", "run", "", key));
            expect(record?.state).toBe("completed");
            if (record?.state === "completed")
              expect(decodeRunOutcome(record.result)).toEqual({ aborted: false });
          }),
          { numRuns: runsFor(target.name, 60, 0) },
        );
      },
    );

    it.skipIf(!injected)(
      "lease expiry racing a takeover: no stale overwrite, fences grow, replays agree",
      {
        timeout: 60_000,
      },
      async () => {
        await fc.assert(
          fc.asyncProperty(fc.scheduler(), async (s) => {
            const key = `takeover-${randomUUID()}`;
            const storedKey = composeStoredKey("idem:", "run", "", key);
            const leaseMs = 1000;
            const executed: { who: string; fence: number }[] = [];
            const outcomes: Record<string, string> = {};
            const signals: Record<string, AbortSignal> = {};
            // heartbeatMs close to leaseMs in real time: no heartbeat fires during a run, so A is a stalled owner.
            const make = (who: string) =>
              createIdempotency({
                store: scheduledStore(s, opened.store, { label: who }),
                leaseMs,
                heartbeatMs: leaseMs - 1,
                storeTimeoutMs: 10_000,
                onEvent: (e) => {
                  if (e.type === "completed" || e.type === "lease-lost") outcomes[who] = e.type;
                },
              });
            const a = make("A");
            const b = make("B");
            const work =
              (who: string) =>
              async ({ fence, signal }: { fence: number; signal: AbortSignal }) => {
                executed.push({ who, fence });
                signals[who] = signal;
                await s.schedule(Promise.resolve(), `${who} work done`);
                return { who, fence };
              };
            const runA = a.execute({ key }, work("A"));
            // The lease runs out at a scheduled moment: before, between or after any store call.
            const expire = s.schedule(Promise.resolve(), "lease of A runs out").then(() => {
              clock.t += leaseMs + 1;
            });
            // B arrives once A's claim is in (a retry from the client, on another process).
            const runB = s.schedule(Promise.resolve(), "B arrives").then(() => b.execute({ key }, work("B")));
            const [ra, rb] = await s.waitFor(Promise.allSettled([runA, runB, expire]));

            const record = await opened.store.get(storedKey);
            const fences = executed.map((e) => e.fence);
            expect(new Set(fences).size).toBe(fences.length); // one execution per fence
            // Both may run (the first owner's lease ran out; it may even start after the second one when its
            // claim reply was slow: the fence is what tells them apart).
            // Either process may arrive first; whoever claims second after the expiry gets fence 2.
            expect([...fences].sort()).toEqual(
              executed.length === 2 ? [1, 2] : executed.length === 1 ? [1] : [],
            );
            // Only the owner of the record's fence may have stored; every other completion was refused.
            for (const { who, fence } of executed) {
              if (outcomes[who] === "completed") {
                expect(record?.state).toBe("completed");
                expect(record?.fence).toBe(fence);
                if (record?.state === "completed")
                  expect(decodeRunOutcome(record.result)).toEqual({ who, fence });
              }
              if (outcomes[who] === "lease-lost") expect(signals[who]?.aborted).toBe(true);
            }
            expect(executed.filter((e) => outcomes[e.who] === "completed").length).toBeLessThanOrEqual(1);
            // A replay is the stored outcome, never the value of a stale owner.
            for (const r of [ra, rb]) {
              if (
                r?.status === "fulfilled" &&
                r.value &&
                typeof r.value === "object" &&
                "replayed" in r.value
              ) {
                const v = r.value as { value: unknown; replayed: boolean };
                if (v.replayed && record?.state === "completed")
                  expect(v.value).toEqual(decodeRunOutcome(record.result));
              }
              if (r?.status === "rejected") expect(r.reason).toBeInstanceOf(ConflictError);
            }
          }),
          { numRuns: runsFor(target.name, 150, 0) },
        );
      },
    );
  });
}
