// A connection lost in the middle of a large completion's write (the pending list's start, its RPUSHX,
// COMPLETE_ASIDE: redis-store.ts), on clients that do not resend what was unanswered: whatever was
// written by then keeps a TTL (scripts.ts, PENDING_LIST), never a key kept for ever.
import { randomBytes, randomUUID } from "node:crypto";
import { connect, createServer, type Server, type Socket } from "node:net";
import { skipUnlessAvailable } from "@idemkit/conformance";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { createRedisStore } from "./index.js";
import { LARGE_RECORD_BYTES } from "./large-reads.js";
import { COMPLETE_ASIDE } from "./scripts.js";
import { nodeRedis, probeRedis, REDIS_URL } from "./testing/clients.js";

const skip = skipUnlessAvailable("redis", await probeRedis());
const { hostname, port } = new URL(REDIS_URL);

/**
 * A proxy to Redis that, on the first connection whose commands reach `marker`, forwards what comes before
 * that command and then closes both sides.
 */
async function cuttingBefore(marker: RegExp): Promise<{ port: number; server: Server }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(port || 6379), hostname);
    sockets.add(client).add(upstream);
    let tail = "";
    let cut = false;
    client.on("data", (chunk: Buffer) => {
      if (cut) return;
      const seen = tail + chunk.toString("latin1");
      const found = marker.exec(seen);
      tail = seen.slice(-64);
      if (found === null) {
        upstream.write(chunk);
        return;
      }
      cut = true;
      const start = Math.max(0, seen.lastIndexOf("*", found.index) - (seen.length - chunk.length));
      upstream.write(chunk.subarray(0, start), () => {
        setTimeout(() => {
          client.destroy();
          upstream.destroy();
        }, 50);
      });
    });
    upstream.on("data", (data: Buffer) => client.writable && client.write(data));
    for (const socket of [client, upstream]) socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  afterAll(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return { port: (server.address() as { port: number }).port, server };
}

const CUTS: [string, RegExp][] = [
  ["before its RPUSHX", /\r\nrpushx\r\n/i],
  ["before COMPLETE_ASIDE", new RegExp(COMPLETE_ASIDE.sha)],
];

const CLIENTS: [string, (port: number) => Promise<{ client: unknown; close(): Promise<unknown> }>][] = [
  [
    "node-redis",
    async (at) => {
      const client = await nodeRedis({
        url: `redis://127.0.0.1:${at}`,
        socket: { reconnectStrategy: false },
      });
      client.on("error", () => {});
      return { client, close: () => client.destroy() as unknown as Promise<unknown> };
    },
  ],
  [
    "ioredis, resending nothing",
    async (at) => {
      const client = new Redis({
        port: at,
        autoResendUnfulfilledCommands: false,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      }).on("error", () => {});
      await client.ping();
      return { client, close: async () => client.disconnect() };
    },
  ],
];

describe.skipIf(Boolean(skip))("redis store: a large completion whose connection is lost mid-write", () => {
  for (const [name, open] of CLIENTS) {
    for (const [where, marker] of CUTS) {
      it(`${name}, cut ${where}: every key it wrote keeps a TTL`, async () => {
        const prefix = `idemkit-cut:${randomUUID()}:`;
        const raw = new Redis(REDIS_URL);
        const proxy = await cuttingBefore(marker);
        const { client, close } = await open(proxy.port);
        try {
          const store = createRedisStore({ client: client as never, prefix, commandTimeoutMs: 1000 });
          expect(
            (
              await store.claim("k", {
                token: "owner",
                fingerprint: "f",
                leaseMs: 60_000,
                retentionMs: 60_000,
              })
            ).acquired,
          ).toBe(true);
          const result = new Uint8Array(randomBytes(LARGE_RECORD_BYTES * 2));
          await expect(store.complete("k", "owner", { result, retentionMs: 60_000 })).rejects.toBeInstanceOf(
            Error,
          );
          const keys = await raw.keysBuffer(`${prefix}*`);
          const ttls = await Promise.all(keys.map((key) => raw.pttl(key)));
          expect(keys.length, "the record and what was written").toBeGreaterThan(1);
          for (const ttl of ttls) expect(ttl).toBeGreaterThan(0);
        } finally {
          await close();
          const keys = await raw.keysBuffer(`${prefix}*`);
          if (keys.length > 0) await raw.del(...keys);
          await raw.quit();
        }
      });
    }
  }
});
