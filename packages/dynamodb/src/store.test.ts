// What the conformance suite cannot see: the app's clock and its tolerance, records DynamoDB's TTL has
// not deleted yet, claims that lose a race through separate clients, and a record that changes between a
// lost condition and the read that follows it.
import { randomUUID } from "node:crypto";
import { DeleteItemCommand, GetItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";
import type { IdempotencyStore } from "@idemkit/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { itemKey } from "./key.js";
import { createDynamoDbStore } from "./store.js";
import { freshTable, newClient, purgeByTtl, skip, titled } from "./test-support.js";

describe.skipIf(Boolean(skip))(titled("dynamodb store"), () => {
  let fresh: Awaited<ReturnType<typeof freshTable>>;
  const client = newClient();
  beforeAll(async () => {
    fresh = await freshTable("store");
  });
  afterAll(async () => {
    client.destroy();
    await fresh?.drop();
  });
  const claimOf = (leaseMs = 1000, retentionMs = 60_000) => ({
    token: randomUUID(),
    fingerprint: "fp",
    leaseMs,
    retentionMs,
  });
  /** A store on `client` whose wall clock reads `clock.t`. */
  const at = (clock: { t: number }, clockToleranceMs = 0) =>
    createDynamoDbStore({ client, table: fresh.table, clockToleranceMs, now: () => clock.t });
  const rawItem = async (key: string) =>
    (
      await client.send(
        new GetItemCommand({
          TableName: fresh.table,
          Key: { pk: { S: itemKey(key) } },
          ConsistentRead: true,
        }),
      )
    ).Item;

  it("an empty fingerprint (core's run() without input): the key is claimed again after a release and after its lease ran out", async () => {
    const clock = { t: 1_800_000_000_000 };
    const store = at(clock);
    const key = `empty-fp-${randomUUID()}`;
    const claim = () => ({ ...claimOf(), fingerprint: "" });
    const first = claim();
    expect(await store.claim(key, first)).toEqual({ acquired: true, fence: 1, takeover: false });
    expect(await store.get(key)).toMatchObject({ fingerprint: "", fence: 1 });
    expect(await store.release(key, first.token)).toBe(true);
    expect(await store.claim(key, claim())).toEqual({ acquired: true, fence: 2, takeover: false });
    clock.t += 1000;
    expect(await store.claim(key, claim())).toEqual({ acquired: true, fence: 3, takeover: true });
  });

  it("an expired lease whose item DynamoDB's TTL has not deleted reads as absent, and its takeover gets fence 2", async () => {
    const clock = { t: Date.now() };
    const store = at(clock);
    const key = `ttl-lag-${randomUUID()}`;
    const owner = claimOf(1000, 0);
    expect(await store.claim(key, owner)).toEqual({ acquired: true, fence: 1, takeover: false });
    clock.t += 5000; // past the lease and past its keep-until (retention 0): the TTL may delete it, has not
    expect(Number((await rawItem(key))?.ttl?.N) * 1000).toBeLessThan(clock.t);
    expect(await store.get(key)).toBeUndefined();
    expect(await store.extend(key, owner.token, 1000)).toBe(false);
    expect(await store.complete(key, owner.token, { result: new Uint8Array(1), retentionMs: 1000 })).toBe(
      false,
    );
    expect(await store.claim(key, claimOf())).toEqual({ acquired: true, fence: 2, takeover: true });
  });

  it("a completed record past its retention reads as absent while its item is still there", async () => {
    const clock = { t: Date.now() };
    const store = at(clock);
    const key = `retained-${randomUUID()}`;
    const owner = claimOf();
    await store.claim(key, owner);
    expect(await store.complete(key, owner.token, { result: Uint8Array.of(7), retentionMs: 2000 })).toBe(
      true,
    );
    clock.t += 2000;
    expect(await rawItem(key)).toBeDefined();
    expect(await store.get(key)).toBeUndefined();
    expect(await store.delete(key)).toBe(false);
  });

  it("the TTL attribute is the keep-until in seconds, rounded up: extend moves it, complete only lengthens it", async () => {
    const clock = { t: 1_800_000_000_123 };
    const store = at(clock);
    const key = `ttl-${randomUUID()}`;
    const owner = claimOf(10_000, 60_500);
    await store.claim(key, owner);
    const ttl = async () => Number((await rawItem(key))?.ttl?.N);
    expect(await ttl()).toBe(Math.ceil((clock.t + 10_000 + 60_500) / 1000));
    clock.t += 5000;
    expect(await store.extend(key, owner.token, 20_000)).toBe(true);
    // The claim's retention in whole seconds (61) past the new lease end.
    expect(await ttl()).toBe(Math.ceil((clock.t + 20_000) / 1000) + 61);
    const before = await ttl();
    expect(await store.complete(key, owner.token, { result: Uint8Array.of(1), retentionMs: 1000 })).toBe(
      true,
    );
    expect(await ttl()).toBe(before);
    expect(await store.get(key)).toMatchObject({ state: "completed", expiresAt: clock.t + 1000 });
  });

  it("clockToleranceMs: a server whose clock is ahead by less takes no lease early; by more, it takes it over", async () => {
    const key = `skew-${randomUUID()}`;
    const t0 = Date.now();
    const owner = at({ t: t0 }, 500);
    expect(await owner.claim(key, claimOf(1000))).toMatchObject({ acquired: true, fence: 1 });
    // 1400 ms ahead: the lease end it reads is t0 + 1000 + 500.
    expect(await at({ t: t0 + 1400 }, 500).claim(key, claimOf())).toMatchObject({ acquired: false });
    expect(await at({ t: t0 + 1500 }, 500).claim(key, claimOf())).toEqual({
      acquired: true,
      fence: 2,
      takeover: true,
    });

    const bare = `skew-none-${randomUUID()}`;
    expect(await at({ t: t0 }, 0).claim(bare, claimOf(1000))).toMatchObject({ acquired: true });
    expect(await at({ t: t0 + 1000 }, 0).claim(bare, claimOf())).toMatchObject({ acquired: true, fence: 2 });
  });

  it("the default tolerance is a second: the record's lease end is leaseMs + 1000 ms from the claim", async () => {
    const clock = { t: Date.now() };
    const store = createDynamoDbStore({ client, table: fresh.table, now: () => clock.t });
    const key = `default-tolerance-${randomUUID()}`;
    await store.claim(key, claimOf(2000));
    expect(await store.get(key)).toMatchObject({ state: "in_progress", leaseExpiresAt: clock.t + 3000 });
  });

  it("50 concurrent claims through 5 clients: one owner, every loser gets its record", async () => {
    const clients = Array.from({ length: 5 }, () => newClient());
    const stores = clients.map((c) => createDynamoDbStore({ client: c, table: fresh.table }));
    const key = `race-${randomUUID()}`;
    const claims = Array.from({ length: 50 }, () => claimOf(30_000));
    const results = await Promise.all(claims.map((c, i) => stores[i % 5]!.claim(key, c)));
    const winners = results.flatMap((r, i) => (r.acquired ? [claims[i]!.token] : []));
    expect(winners).toHaveLength(1);
    for (const r of results) {
      if (!r.acquired) expect(r.record).toMatchObject({ state: "in_progress", token: winners[0], fence: 1 });
    }
    for (const c of clients) c.destroy();
  });

  it("a claim that lost to a record gone by the time it reads it claims again", async () => {
    const key = `vanished-${randomUUID()}`;
    const racer = newClient();
    // Between the failed UpdateItem and the read that follows it, the owner's record is deleted.
    racer.middlewareStack.add(
      (next, context) => async (args) => {
        try {
          return await next(args);
        } catch (error) {
          if (
            context.commandName === "UpdateItemCommand" &&
            (error as Error).name === "ConditionalCheckFailedException"
          ) {
            await client.send(
              new DeleteItemCommand({ TableName: fresh.table, Key: { pk: { S: itemKey(key) } } }),
            );
          }
          throw error;
        }
      },
      { step: "initialize", name: "deleteAfterLostCondition" },
    );
    const store: IdempotencyStore = createDynamoDbStore({ client: racer, table: fresh.table });
    await createDynamoDbStore({ client, table: fresh.table }).claim(key, claimOf(30_000));
    const mine = claimOf();
    expect(await store.claim(key, mine)).toEqual({ acquired: true, fence: 1, takeover: false });
    expect(await store.get(key)).toMatchObject({ token: mine.token });
    racer.destroy();
  });

  it("a TTL deletion forgets the fence only after keep-until: purged before, fence 2; after, fence 1", async () => {
    const clock = { t: Date.now() };
    const store = at(clock);
    const key = `purged-${randomUUID()}`;
    await store.claim(key, claimOf(1000, 3000));
    clock.t += 1500; // lease over, keep-until (4 s, rounded up to the second) not
    await purgeByTtl(client, fresh.table, { now: clock.t });
    expect(await store.claim(key, claimOf(1000, 0))).toMatchObject({ acquired: true, fence: 2 });
    clock.t += 3000;
    await purgeByTtl(client, fresh.table, { now: clock.t });
    expect(await rawItem(key)).toBeUndefined();
    expect(await store.claim(key, claimOf())).toMatchObject({ acquired: true, fence: 1 });
  });

  it("an item without a TTL attribute (written by hand) is still judged by its deadline", async () => {
    const key = `no-ttl-${randomUUID()}`;
    await client.send(
      new PutItemCommand({
        TableName: fresh.table,
        Item: {
          pk: { S: itemKey(key) },
          st: { S: "in_progress" },
          tok: { S: "owner" },
          fp: { S: "fp" },
          fence: { N: "4" },
          until: { N: String(Date.now() - 1) },
          rets: { N: "60" },
        },
      }),
    );
    expect(await at({ t: Date.now() }).claim(key, claimOf())).toEqual({
      acquired: true,
      fence: 5,
      takeover: true,
    });
  });
});
