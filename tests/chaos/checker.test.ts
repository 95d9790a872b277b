// The checker must catch what it claims to catch: hand-made histories with one broken promise each.
import { encodeStoredResponse, type IdempotencyRecord } from "@idemkit/core";
import { describe, expect, it } from "vitest";
import { type CheckInput, type ClientEntry, check } from "./checker.js";
import type { LedgerEntry, Unstamped } from "./worker.js";

const key = "idem:0::k";
const answer = (fence: number, execId: string) => JSON.stringify({ key: "k", fence, w: "w1", execId });
const completed = (fence: number, body: string): IdempotencyRecord => ({
  state: "completed",
  token: "t",
  fingerprint: "f",
  fence,
  expiresAt: Date.now() + 60_000,
  result: encodeStoredResponse({
    status: 201,
    statusText: "",
    headers: [],
    body: new TextEncoder().encode(body),
  }),
});
const ok = (body: string, t: number, replayed = false): ClientEntry => ({
  key: "k",
  storedKey: key,
  route: "orders",
  status: 201,
  body,
  replayed,
  t,
});
const at = { w: "w1", t: 0 };
const run = (ledger: Unstamped[], client: ClientEntry[], record?: IdempotencyRecord) =>
  check({
    ledgers: [ledger.map((e) => ({ ...at, ...e }) as LedgerEntry)],
    client,
    final: new Map([[key, record]]),
    maxConflictStreakMs: 5000,
  } satisfies CheckInput);

describe("chaos checker", () => {
  it("accepts one execution replayed to every client", () => {
    const r = run(
      [
        { e: "claimed", key, fence: 1 },
        { e: "exec", key, fence: 1, execId: "a" },
        { e: "completed", key, fence: 1 },
      ],
      [ok(answer(1, "a"), 1), ok(answer(1, "a"), 2, true)],
      completed(1, answer(1, "a")),
    );
    expect(r.violations).toEqual([]);
    expect(r).toMatchObject({ executions: 1, takeovers: 0 });
  });

  it("flags a second execution that is not a takeover, and one with the same fence", () => {
    const twice = run(
      [
        { e: "claimed", key, fence: 1 },
        { e: "exec", key, fence: 1, execId: "a" },
        { e: "claimed", key, fence: 2 },
        { e: "exec", key, fence: 2, execId: "b" },
      ],
      [],
      completed(2, answer(2, "b")),
    );
    expect(twice.violations.join()).toMatch(/not a takeover/);
    const sameFence = run(
      [
        { e: "claimed", key, fence: 1 },
        { e: "exec", key, fence: 1, execId: "a" },
        { e: "exec", key, fence: 1, execId: "b" },
      ],
      [],
      completed(1, answer(1, "a")),
    );
    expect(sameFence.violations.join()).toMatch(/two executions with fence 1/);
  });

  it("flags an execution without a claim, and a run after an acknowledged completion", () => {
    const r = run(
      [
        { e: "exec", key, fence: 1, execId: "a" },
        { e: "completed", key, fence: 1 },
        { e: "claimed", key, fence: 2 },
        { e: "takeover", key, fence: 2 },
        { e: "exec", key, fence: 2, execId: "b" },
      ],
      [],
      completed(1, answer(1, "a")),
    );
    expect(r.violations.join()).toMatch(/without a claim/);
    expect(r.violations.join()).toMatch(/after fence 1 completed/);
  });

  it("flags a lost acknowledged outcome, a wrong replay, a key left in progress", () => {
    const lost = run(
      [
        { e: "claimed", key, fence: 1 },
        { e: "exec", key, fence: 1, execId: "a" },
        { e: "completed", key, fence: 1 },
      ],
      [ok(answer(1, "a"), 1), ok(answer(9, "zz"), 2, true)],
      undefined,
    );
    expect(lost.violations.join()).toMatch(/acknowledged but the store now has no record/);
    expect(lost.violations.join()).toMatch(/replay .* differs/);
    expect(lost.violations.join()).toMatch(/not completed/);
  });

  it("flags a 2xx from superseded work whose completion was refused (no 2xx for superseded work)", () => {
    const r = run(
      [
        { e: "claimed", key, fence: 1 },
        { e: "exec", key, fence: 1, execId: "a" },
        { e: "claimed", key, fence: 2 },
        { e: "takeover", key, fence: 2 },
        { e: "exec", key, fence: 2, execId: "b" },
        { e: "completed", key, fence: 2 },
        { e: "lease-lost", key, fence: 1, phase: "complete" },
      ],
      [ok(answer(1, "a"), 1), ok(answer(2, "b"), 2)],
      completed(2, answer(2, "b")),
    );
    expect(r.violations.join()).toMatch(/2xx from execution a \(fence 1\) is not the stored outcome/);
    expect(r).toMatchObject({ executions: 2, takeovers: 1, unackedAnswers: 0 });
  });

  it("flags a 2xx from superseded work whose completion was never reported at all", () => {
    const r = run(
      [
        { e: "claimed", key, fence: 1 },
        { e: "exec", key, fence: 1, execId: "a" },
        { e: "claimed", key, fence: 2 },
        { e: "takeover", key, fence: 2 },
        { e: "exec", key, fence: 2, execId: "b" },
        { e: "completed", key, fence: 2 },
      ],
      [ok(answer(1, "a"), 1)],
      completed(2, answer(2, "b")),
    );
    expect(r.violations.join()).toMatch(/2xx from execution a/);
  });

  it("counts a 2xx whose completion failed with a store error (outcome unknown) as unacknowledged, not as a violation", () => {
    const r = run(
      [
        { e: "claimed", key, fence: 1 },
        { e: "exec", key, fence: 1, execId: "a" },
        { e: "claimed", key, fence: 2 },
        { e: "takeover", key, fence: 2 },
        { e: "exec", key, fence: 2, execId: "b" },
        { e: "completed", key, fence: 2 },
        { e: "store-error", key, op: "complete" },
      ],
      [ok(answer(1, "a"), 1), ok(answer(2, "b"), 2)],
      completed(2, answer(2, "b")),
    );
    expect(r.violations).toEqual([]);
    expect(r).toMatchObject({ executions: 2, takeovers: 1, unackedAnswers: 1 });
  });

  it("a store error on another execution's completion excuses nothing: it is matched to the oldest one waiting", () => {
    const r = run(
      [
        { e: "claimed", key, fence: 1 },
        { e: "exec", key, fence: 1, execId: "a" },
        { e: "store-error", key, op: "complete" },
        { e: "claimed", key, fence: 2 },
        { e: "takeover", key, fence: 2 },
        { e: "exec", key, fence: 2, execId: "b" },
        { e: "lease-lost", key, fence: 2, phase: "complete" },
        { e: "claimed", key, fence: 3 },
        { e: "takeover", key, fence: 3 },
        { e: "exec", key, fence: 3, execId: "c" },
        { e: "completed", key, fence: 3 },
      ],
      [ok(answer(1, "a"), 1), ok(answer(2, "b"), 2)],
      completed(3, answer(3, "c")),
    );
    expect(r.violations).toHaveLength(1);
    expect(r.violations[0]).toMatch(/2xx from execution b/);
    expect(r.unackedAnswers).toBe(1);
  });

  it("flags a worker that crashed (exited without being killed)", () => {
    const r = check({
      ledgers: [],
      client: [],
      final: new Map(),
      maxConflictStreakMs: 5000,
      crashes: ["w2 exited (1): TypeError: boom"],
    });
    expect(r.violations).toEqual(["a worker crashed: w2 exited (1): TypeError: boom"]);
  });

  it("flags a key answered 409 for longer than lease + tolerance", () => {
    const conflict = (t: number): ClientEntry => ({ ...ok("", t), status: 409 });
    const r = run(
      [
        { e: "claimed", key, fence: 1 },
        { e: "exec", key, fence: 1, execId: "a" },
        { e: "completed", key, fence: 1 },
      ],
      [conflict(0), conflict(3000), ok(answer(1, "a"), 9000, true)],
      completed(1, answer(1, "a")),
    );
    expect(r.violations.join()).toMatch(/in progress \(409\) for 9000 ms, past 1 × \(lease \+ tolerance\)/);
  });

  it("allows one lease + tolerance of 409 per owner a key had (owners lost to faults one after another)", () => {
    const conflict = (t: number): ClientEntry => ({ ...ok("", t), status: 409 });
    const owners = [
      { e: "claimed", key, fence: 1 },
      { e: "exec", key, fence: 1, execId: "a" },
      { e: "claimed", key, fence: 2 },
      { e: "takeover", key, fence: 2 },
      { e: "exec", key, fence: 2, execId: "b" },
      { e: "completed", key, fence: 2 },
    ] as const;
    const within = run([...owners], [conflict(0), ok(answer(2, "b"), 9000)], completed(2, answer(2, "b")));
    expect(within.violations).toEqual([]);
    const past = run([...owners], [conflict(0), ok(answer(2, "b"), 11_000)], completed(2, answer(2, "b")));
    expect(past.violations.join()).toMatch(/for 11000 ms, past 2 × \(lease \+ tolerance\) \(10000 ms\)/);
  });
});
