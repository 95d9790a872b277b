import { describe, expect, it } from "vitest";
import { createMemoryStore } from "./memory-store.js";

const MINUTE = 60_000;
const claimOf = (token: string, leaseMs = MINUTE) => ({
  token,
  fingerprint: "fp",
  leaseMs,
  retentionMs: MINUTE,
});
const bytes = (text: string) => new TextEncoder().encode(text);

describe("memory store: list", () => {
  it("lists live records with their claim time and deadline, by state, age and prefix; never released or expired ones", async () => {
    const clock = { t: 1_700_000_000_000 };
    const store = createMemoryStore({ now: () => clock.t });
    await store.claim("a:old", claimOf("t1", 20 * MINUTE));
    clock.t += 10 * MINUTE - 1;
    await store.extend("a:old", "t1", MINUTE); // extend keeps the claim time
    await store.claim("a:done", claimOf("t2"));
    await store.complete("a:done", "t2", { result: bytes("x"), retentionMs: 5 * MINUTE });
    await store.claim("a:released", claimOf("t3"));
    await store.release("a:released", "t3");
    await store.claim("a:expired", claimOf("t4", 1));
    await store.claim("b:other", claimOf("t5"));
    clock.t += 1;

    const claimed = 1_700_000_000_000;
    const later = claimed + 10 * MINUTE - 1;
    expect((await store.list({ prefix: "a:" })).records).toEqual([
      { key: "a:done", state: "completed", fence: 1, claimedAt: later, expiresAt: later + 5 * MINUTE },
      { key: "a:old", state: "in_progress", fence: 1, claimedAt: claimed, expiresAt: later + MINUTE },
    ]);
    expect((await store.list({ state: "in_progress" })).records.map((r) => r.key)).toEqual([
      "a:old",
      "b:other",
    ]);
    expect((await store.list({ state: "completed" })).records.map((r) => r.key)).toEqual(["a:done"]);
    // Claimed 10 minutes ago: older than 5 minutes; the others were claimed 1 ms ago.
    expect((await store.list({ olderThanMs: 5 * MINUTE })).records.map((r) => r.key)).toEqual(["a:old"]);
    expect((await store.list({ olderThanMs: 1 })).records).toHaveLength(3);
    expect((await store.list({ olderThanMs: 2 })).records).toHaveLength(1);
  });

  it("pages: every live key once, in code unit order, the cursor going on past changes in between", async () => {
    const store = createMemoryStore();
    const keys = ["k:é", "k:e\u0301", "k:\u0000", "k:%_*", "k:😀", "k:Z", "k:a"];
    for (const [i, key] of keys.entries()) await store.claim(key, claimOf(`t${i}`));
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await store.list({ prefix: "k:", limit: 2, cursor });
      expect(page.records.length).toBeLessThanOrEqual(2);
      seen.push(...page.records.map((r) => r.key));
      cursor = page.cursor;
      if (pages++ === 0) await store.delete("k:\u0000"); // already listed: the next pages go on after it
    } while (cursor !== undefined);
    expect(seen).toEqual([...keys].sort());
    expect(pages).toBe(4);
  });

  it("refuses a filter it cannot honour, naming the field", async () => {
    const store = createMemoryStore();
    await expect(store.list({ limit: 0 })).rejects.toThrow(/limit must be an integer from 1 to 1000; got 0/);
    await expect(store.list({ limit: 1001 })).rejects.toThrow(RangeError);
    await expect(store.list({ olderThanMs: -1 })).rejects.toThrow(/olderThanMs/);
    // Past any record's age, and past what a SQL interval holds (PostgreSQL failed "interval out of range").
    await expect(store.list({ olderThanMs: 1e24 })).rejects.toThrow(
      /olderThanMs must be .* up to 4000000000000000/,
    );
    await expect(store.list({ state: "in-progress" as "in_progress" })).rejects.toThrow(/state must be/);
    await expect(store.list({ prefix: 1 as unknown as string })).rejects.toThrow(/prefix must be a string/);
    await expect(store.list({ cursor: "nope!" })).rejects.toThrow(/not a cursor of this store's listing/);
    await expect(store.list({ cursor: "e30" })).rejects.toThrow(/not a cursor/); // "{}"
    await expect(store.list({ limits: 5 } as object)).rejects.toThrow(/unknown filter field "limits"/);
  });

  it("ping resolves", async () => {
    await expect(createMemoryStore().ping()).resolves.toBeUndefined();
  });
});
