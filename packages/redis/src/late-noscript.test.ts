// An EVALSHA whose NOSCRIPT comes back after the store's timeout: the caller already has its
// rejection, so the store must not send the EVAL (it would write a claim nobody waits for). A
// throwaway server, whose script cache is empty; the EVALSHA is held back on the client side.
import { randomUUID } from "node:crypto";
import { createClient } from "@redis/client";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RedisClient } from "./clients.js";
import { createRedisStore } from "./index.js";
import { commandName, recordSent } from "./testing/clients.js";
import { type Throwaway, throwawayRedis } from "./testing/throwaway.js";

let server: Throwaway;
let raw: Redis;
beforeAll(async () => {
  server = await throwawayRedis();
  raw = new Redis({ host: "127.0.0.1", port: server.port });
}, 20_000);
afterAll(async () => {
  raw?.disconnect();
  await server?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Holds back every EVALSHA `target` sends by `ms` (so its NOSCRIPT arrives late). */
function delayEvalsha(
  target: { sendCommand: (...args: never[]) => unknown },
  nameOf: (args: unknown[]) => unknown,
  ms: number,
) {
  const send = target.sendCommand.bind(target) as (...args: unknown[]) => unknown;
  target.sendCommand = ((...args: unknown[]) =>
    String(nameOf(args)).toLowerCase() === "evalsha"
      ? sleep(ms).then(() => send(...args))
      : send(...args)) as typeof target.sendCommand;
}

const open = {
  ioredis: async () => {
    const client = new Redis({ host: "127.0.0.1", port: server.port });
    return { client, nameOf: commandName.ioredis, close: () => client.quit() };
  },
  nodeRedis: async () => {
    const client = createClient({ socket: { host: "127.0.0.1", port: server.port } });
    client.on("error", () => {});
    await client.connect();
    return {
      client: client as unknown as RedisClient,
      nameOf: commandName.nodeRedis,
      close: () => client.close(),
    };
  },
};

describe("a NOSCRIPT after the timeout", () => {
  it.each(["ioredis", "nodeRedis"] as const)(
    "%s: the claim rejects at its timeout and no EVAL follows (before: the EVAL wrote the claim after the rejection)",
    async (library) => {
      const { client, nameOf, close } = await open[library]();
      try {
        await raw.script("FLUSH");
        const target = client as unknown as { sendCommand: (...args: never[]) => unknown };
        const sent = recordSent(target, nameOf);
        delayEvalsha(target, nameOf, 300);
        const store = createRedisStore({ client, commandTimeoutMs: 100 });
        const key = `late:${randomUUID()}`;
        const claim = { token: randomUUID(), fingerprint: "fp", leaseMs: 60_000, retentionMs: 60_000 };
        await expect(store.claim(key, claim)).rejects.toThrow(
          /claim failed: no reply from Redis within 100 ms/,
        );
        await sleep(600); // the NOSCRIPT is back by now
        expect(sent).toEqual(["evalsha"]);
        expect(await raw.exists(key)).toBe(0);
      } finally {
        await close();
      }
    },
  );
});
