// The store's commands on ioredis are made with their arguments as they are, not copied by ioredis's
// `Array.prototype.flat` (ioredis-commands.ts), and ioredis still does the rest: the client's keyPrefix.
import { randomUUID } from "node:crypto";
import { skipUnlessAvailable } from "@idemkit/conformance";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it, vi } from "vitest";
import { createRedisStore } from "./index.js";
import { senderOf } from "./ioredis-commands.js";
import { probeRedis, REDIS_URL } from "./testing/clients.js";

const skip = skipUnlessAvailable("redis", await probeRedis());
const prefix = "idemkit-test:direct:";
const claimOf = () => ({ token: randomUUID(), fingerprint: "fp", leaseMs: 60_000, retentionMs: 60_000 });
const clients: Redis[] = [];
afterAll(() => Promise.all(clients.map((client) => client.quit())));
const open = (options: { keyPrefix?: string } = {}) => {
  const client = new Redis(REDIS_URL, { ...options, lazyConnect: true });
  clients.push(client);
  return client;
};

/** How many times `Array.prototype.flat` ran while `action` did. */
async function flatCalls(action: () => Promise<unknown>): Promise<number> {
  const spy = vi.spyOn(Array.prototype, "flat");
  try {
    await action();
    return spy.mock.calls.length;
  } finally {
    spy.mockRestore();
  }
}

describe.skipIf(Boolean(skip))("the Redis store's commands on ioredis", () => {
  it("a claim, a large completion, replays and a large record's reads: no argument list copied by flat", async () => {
    const client = open();
    await client.connect();
    const sent: string[] = [];
    const send = client.sendCommand.bind(client);
    client.sendCommand = ((command: { name: string }) => {
      sent.push(command.name);
      return send(command as never);
    }) as typeof client.sendCommand;
    const store = createRedisStore({ client, prefix });
    const key = randomUUID();
    const claim = claimOf();
    const outcome = { result: new Uint8Array(200_000).fill(7), retentionMs: 60_000 };
    const calls = await flatCalls(async () => {
      expect((await store.claim(key, claim)).acquired).toBe(true);
      expect(await store.complete(key, claim.token, outcome)).toBe(true);
      // The first replay learns that the record is large; the second reads it with plain GET and LRANGE.
      for (let i = 0; i < 2; i++) {
        const replay = await store.claim(key, claimOf());
        expect(!replay.acquired && replay.record.state === "completed" && replay.record.result.length).toBe(
          200_000,
        );
      }
    });
    expect([calls, [...new Set(sent)].sort()]).toEqual([0, ["eval", "evalsha", "get", "lrange", "rpushx"]]);
  });

  it("with the client's keyPrefix: the keys prefixed by ioredis, no argument list copied by flat", async () => {
    const keyPrefix = `kp-${randomUUID()}:`;
    const client = open({ keyPrefix });
    await client.connect();
    const store = createRedisStore({ client, prefix });
    const key = randomUUID();
    const calls = await flatCalls(async () =>
      expect((await store.claim(key, claimOf())).acquired).toBe(true),
    );
    const raw = open();
    await raw.connect();
    expect([calls, await raw.exists(`${keyPrefix}${prefix}${key}`)]).toEqual([0, 1]);
  });

  it("an ioredis whose Command copies its arguments another way: its builtin commands", () => {
    const client = open();
    const made: { args: unknown[] }[] = [];
    class CopyingCommand {
      args: unknown[];
      constructor(_name: string, args: unknown[]) {
        this.args = Array.isArray(args) ? args.slice() : [args];
        made.push(this);
      }
    }
    const stand = Object.create(client) as Redis;
    stand.createBuiltinCommand = () => ({
      string: () => {},
      buffer(this: { sendCommand(command: unknown): unknown }, ...args: unknown[]) {
        return this.sendCommand(new CopyingCommand("get", args));
      },
    });
    expect(senderOf(stand)).toBeUndefined();
    expect(made[0]?.args).toEqual(["probe"]);
    expect(senderOf(client)).toBeTypeOf("function");
  });
});
