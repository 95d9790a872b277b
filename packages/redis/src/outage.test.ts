import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { skipUnlessAvailable } from "@idemkit/conformance";
import type { ClaimResult, IdempotencyStore } from "@idemkit/core";
import type { AnyRedisClientOptions } from "@redis/client";
import { Redis, type RedisOptions } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedisStore, RedisStoreError } from "./index.js";
import { type NodeRedis, nodeRedis } from "./testing/clients.js";

// A throwaway redis-server of our own, stopped and restarted here; the shared server is never touched.
// Its port: REDIS_OUTAGE_PORT, or one free when the suite starts (kept across restarts).
let port = Number(process.env.REDIS_OUTAGE_PORT ?? 0);
const binary = spawnSync("redis-server", ["--version"]);
const skip = skipUnlessAvailable(
  "redis",
  binary.status === 0 ? undefined : "no redis-server binary on PATH for the outage test",
);

/** A loopback port nobody listens on now. */
async function freePort(): Promise<number> {
  const listener = createServer();
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
  const { port: free } = listener.address() as AddressInfo;
  await new Promise((resolve) => listener.close(resolve));
  return free;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const timeoutMs = 500;

describe.skipIf(Boolean(skip))("redis store through an outage", () => {
  const dir = mkdtempSync(join(tmpdir(), "idemkit-redis-outage-"));
  let server: ChildProcess | undefined;
  const open: Redis[] = [];
  const openNodeRedis: NodeRedis[] = [];

  async function startServer(): Promise<void> {
    if (port === 0) port = await freePort();
    server = spawn(
      "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir],
      {
        stdio: "ignore",
      },
    );
    const probe = new Redis({ port, lazyConnect: true, retryStrategy: () => null });
    probe.on("error", () => {});
    try {
      for (let i = 0; i < 100; i++) {
        if (
          await probe.connect().then(
            () => probe.ping(),
            () => undefined,
          )
        ) {
          // Another program's server on this port would answer too, while ours failed to bind.
          const info = await probe.info("server");
          if (!info.includes(`process_id:${server?.pid}\r\n`)) {
            throw new Error(
              `port ${port} is held by another redis-server: set REDIS_OUTAGE_PORT to a free one`,
            );
          }
          return;
        }
        await sleep(50);
      }
      throw new Error(`redis-server did not start on port ${port}`);
    } finally {
      probe.disconnect();
    }
  }

  async function stopServer(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const child = server;
    server = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill(signal);
    await exited;
  }

  async function storeWith(options: RedisOptions): Promise<IdempotencyStore> {
    const client = new Redis({ port, lazyConnect: true, ...options });
    client.on("error", () => {}); // connection errors surface through the store's rejections
    open.push(client);
    // Without an offline queue a command sent before the connection is ready fails: connect first.
    await client.connect();
    return createRedisStore({ client, commandTimeoutMs: timeoutMs });
  }

  async function nodeRedisStoreWith(options: AnyRedisClientOptions): Promise<IdempotencyStore> {
    const client = await nodeRedis({ url: `redis://127.0.0.1:${port}`, ...options });
    openNodeRedis.push(client);
    return createRedisStore({ client, commandTimeoutMs: timeoutMs });
  }

  // The options the README recommends for each client, so that nothing waits for Redis to return.
  const recommended = {
    ioredis: { enableOfflineQueue: false, commandTimeout: timeoutMs, maxRetriesPerRequest: 1 },
    nodeRedis: { disableOfflineQueue: true, commandOptions: { timeout: 0 } },
  };

  const claimOf = () => ({ token: randomUUID(), fingerprint: "fp", leaseMs: 60_000, retentionMs: 60_000 });

  async function expectBoundedRejection(operation: Promise<unknown>): Promise<void> {
    const started = Date.now();
    await expect(operation).rejects.toBeInstanceOf(RedisStoreError);
    expect(Date.now() - started).toBeLessThan(timeoutMs + 400);
  }

  async function recovered(store: IdempotencyStore): Promise<ClaimResult> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await store.claim(`after:${randomUUID()}`, claimOf());
      } catch (error) {
        if (attempt >= 60) throw error;
        await sleep(100);
      }
    }
  }

  beforeAll(startServer);
  afterAll(async () => {
    for (const client of open) client.disconnect();
    for (const client of openNodeRedis) client.destroy();
    await stopServer();
    rmSync(dir, { recursive: true, force: true });
  });

  it("rejects within the bound while Redis is down, never reports a claim acquired, and recovers", {
    timeout: 60_000,
  }, async () => {
    // The recommended client options, and each client's defaults (ioredis: offline queue on, no command
    // timeout; node-redis: offline queue on, a command timeout of 5 s).
    const stores = [
      await storeWith(recommended.ioredis),
      await storeWith({}),
      await nodeRedisStoreWith(recommended.nodeRedis),
      await nodeRedisStoreWith({}),
    ];
    for (const store of stores)
      expect((await store.claim(`before:${randomUUID()}`, claimOf())).acquired).toBe(true);

    await stopServer();
    for (const store of stores) {
      for (let i = 0; i < 3; i++) {
        await expectBoundedRejection(store.claim(`down:${randomUUID()}`, claimOf()));
        await expectBoundedRejection(store.get(`down:${randomUUID()}`));
        await expectBoundedRejection(
          store.complete(`down:${randomUUID()}`, "t", { result: new Uint8Array(1), retentionMs: 1 }),
        );
      }
    }

    await startServer();
    for (const store of stores) {
      const claim = await recovered(store);
      expect(claim).toMatchObject({ acquired: true, fence: 1 });
    }
  });

  for (const library of ["ioredis", "node-redis"] as const) {
    it(`${library}: rejects within the bound while Redis hangs, and a claim sent then never reads as acquired`, async () => {
      const store =
        library === "ioredis"
          ? await storeWith(recommended.ioredis)
          : await nodeRedisStoreWith(recommended.nodeRedis);
      const key = `hang:${randomUUID()}`;
      const claim = claimOf();
      expect((await store.claim(`warm:${randomUUID()}`, claimOf())).acquired).toBe(true);
      server!.kill("SIGSTOP");
      try {
        await expectBoundedRejection(store.claim(key, claim));
      } finally {
        server!.kill("SIGCONT");
      }
      // Redis may still run the claim it received before hanging: the key is then held by a token
      // nobody was told it owns, and frees itself when the lease ends (fail closed, no handler ran).
      const after = await recovered(store);
      expect(after.acquired).toBe(true);
      const record = await store.get(key);
      if (record) expect(record).toMatchObject({ state: "in_progress", token: claim.token });
    });
  }
});
