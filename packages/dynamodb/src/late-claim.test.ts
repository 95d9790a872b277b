// A claim whose token released the key's item is a late copy of an answered claim (core never claims again
// with a token it released): it must not acquire the key again for an owner nobody is.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDynamoDbStore } from "./store.js";
import { freshTable, newClient, skip, sleep, titled } from "./test-support.js";

describe.skipIf(Boolean(skip))(titled("dynamodb: a late copy of a claim"), () => {
  let fresh: Awaited<ReturnType<typeof freshTable>>;
  const client = newClient();
  beforeAll(async () => {
    fresh = await freshTable("late-claim");
  });
  afterAll(async () => {
    client.destroy();
    await fresh?.drop();
  });
  const claimOf = (leaseMs = 30_000) => ({
    token: randomUUID(),
    fingerprint: "fp",
    leaseMs,
    retentionMs: 60_000,
  });
  const late = /was claimed with this token already and released since: a late copy of an answered claim/;

  it("the SDK's first attempt of a claim, delayed past the owner's release, does not take the key again", async () => {
    const slow = newClient({ maxAttempts: 3 });
    let delayNext = true;
    // The first attempt reaches the table 300 ms late; the SDK saw a timeout and sent a second one.
    slow.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === "UpdateItemCommand" && delayNext) {
          delayNext = false;
          setTimeout(() => next(args).catch(() => {}), 300);
          throw Object.assign(new Error("request timed out"), { name: "TimeoutError" });
        }
        return next(args);
      },
      { step: "deserialize", name: "delayFirstAttempt" },
    );
    const store = createDynamoDbStore({ client: slow, table: fresh.table });
    const key = `late-copy-${randomUUID()}`;
    const owner = claimOf();
    expect(await store.claim(key, owner)).toEqual({ acquired: true, fence: 1, takeover: false });
    expect(await store.release(key, owner.token)).toBe(true);
    await sleep(500);
    expect(await store.get(key)).toBeUndefined();
    expect(await store.claim(key, claimOf())).toEqual({ acquired: true, fence: 2, takeover: false });
    slow.destroy();
  });

  it("a claim with the token that released the key rejects, and writes nothing", async () => {
    const store = createDynamoDbStore({ client, table: fresh.table });
    const key = `late-released-${randomUUID()}`;
    const owner = claimOf();
    await store.claim(key, owner);
    await store.release(key, owner.token);
    await expect(store.claim(key, owner)).rejects.toThrow(late);
    expect(await store.claim(key, claimOf())).toEqual({ acquired: true, fence: 2, takeover: false });
  });

  // Core's retry of a claim (same token) does this when the first attempt's lease ran out before it arrived.
  it("a claim with the token whose lease ran out (not released) takes it over", async () => {
    const clock = { t: Date.now() };
    const store = createDynamoDbStore({
      client,
      table: fresh.table,
      clockToleranceMs: 0,
      now: () => clock.t,
    });
    const key = `late-expired-${randomUUID()}`;
    const owner = claimOf(1000);
    await store.claim(key, owner);
    clock.t += 2000;
    expect(await store.claim(key, owner)).toEqual({ acquired: true, fence: 2, takeover: true });
  });
});
