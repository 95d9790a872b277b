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
import { PIECE_BYTES } from "./outcome-argument.js";
import { outcomeKeyOf } from "./outcome-key.js";
import { COMPLETE_ASIDE } from "./scripts.js";
import { nodeRedis, probeRedis, REDIS_URL } from "./testing/clients.js";

const skip = skipUnlessAvailable("redis", await probeRedis());
const { hostname, port } = new URL(REDIS_URL);

/**
 * A proxy to Redis that, on the first connection whose commands reach `marker`, forwards what comes before
 * that command and then closes both sides; once only: what a client sends again after reconnecting passes.
 */
async function cuttingBefore(marker: RegExp): Promise<{ port: number; server: Server }> {
  const sockets = new Set<Socket>();
  let done = false;
  const server = createServer((client) => {
    const upstream = connect(Number(port || 6379), hostname);
    sockets.add(client).add(upstream);
    let tail = "";
    let cut = false;
    client.on("data", (chunk: Buffer) => {
      if (cut) return;
      const seen = tail + chunk.toString("latin1");
      const found = done ? null : marker.exec(seen);
      tail = seen.slice(-64);
      if (found === null) {
        upstream.write(chunk);
        return;
      }
      cut = true;
      done = true;
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

/** Where the write is cut, and what the pending list then holds: its start alone, or all of it. */
const CUTS: [string, RegExp, "start" | "whole"][] = [
  ["before its RPUSHX", /\r\nrpushx\r\n/i, "start"],
  ["before COMPLETE_ASIDE", new RegExp(COMPLETE_ASIDE.sha), "whole"],
];

type Opened = { client: unknown; close(): Promise<unknown> };
const CLIENTS: [string, (port: number) => Promise<Opened>, "resends" | "fails"][] = [
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
    "fails",
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
    "fails",
  ],
  [
    "ioredis, as it comes",
    async (at) => {
      const client = new Redis({ port: at }).on("error", () => {});
      await client.ping();
      return { client, close: async () => client.disconnect() };
    },
    "resends",
  ],
];

const PIECES = Math.ceil((LARGE_RECORD_BYTES * 2) / PIECE_BYTES);

describe.skipIf(Boolean(skip))("redis store: a large completion whose connection is lost mid-write", () => {
  for (const [name, open, after] of CLIENTS) {
    for (const [where, marker, pending] of CUTS) {
      it(`${name}, cut ${where}: ${after === "fails" ? "every key it wrote keeps a TTL" : "resent, the outcome is kept aside whole"}`, async () => {
        const prefix = `idemkit-cut:${randomUUID()}:`;
        const raw = new Redis(REDIS_URL);
        const proxy = await cuttingBefore(marker);
        const { client, close } = await open(proxy.port);
        try {
          const store = createRedisStore({ client: client as never, prefix, commandTimeoutMs: 1000 });
          const claim = { token: "owner", fingerprint: "f", leaseMs: 60_000, retentionMs: 60_000 };
          expect((await store.claim("k", claim)).acquired).toBe(true);
          const result = new Uint8Array(randomBytes(LARGE_RECORD_BYTES * 2));
          const completed = store.complete("k", "owner", { result, retentionMs: 60_000 });
          const outcomeKey = outcomeKeyOf(Buffer.alloc(0), `${prefix}k`) as Buffer;
          if (after === "resends") {
            expect(await completed).toBe(true);
            expect(await raw.getrange(`${prefix}k`, 0, 0)).toBe("l");
            const replay = await store.claim("k", { ...claim, token: "again" });
            expect(
              !replay.acquired &&
                replay.record.state === "completed" &&
                Buffer.from(replay.record.result).equals(result),
            ).toBe(true);
          } else {
            await expect(completed).rejects.toBeInstanceOf(Error);
            expect(await raw.getrange(`${prefix}k`, 0, 0), "the record, still in progress").toBe("p");
            const list = Buffer.concat([outcomeKey, Buffer.from(":owner")]);
            expect(await raw.llen(list)).toBe(pending === "start" ? 1 : 1 + PIECES);
          }
          const keys = await raw.keysBuffer(`${prefix}*`);
          const ttls = await Promise.all(keys.map((key) => raw.pttl(key)));
          expect(keys.length, "the record and what was written").toBe(2);
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
