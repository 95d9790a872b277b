// Redis's maxmemory-policy against idemkit's promises, on throwaway redis-servers of our own (free loopback
// ports; the shared servers are never touched): under an evicting policy a flood of other keys evicts a
// live claim and a stored outcome, and the same key is acquired again; `checkServer()` tells, per server
// and per Cluster master, and reads the policy from INFO where CONFIG is refused, on either client.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { skipUnlessAvailable } from "@idemkit/conformance";
import type { AnyRedisClientOptions } from "@redis/client";
import { Cluster, Redis, type RedisOptions } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import type { RedisClient } from "./clients.js";
import { createRedisStore, RedisStoreError } from "./index.js";
import { type NodeRedis, nodeRedis, nodeRedisCluster } from "./testing/clients.js";

const binary = spawnSync("redis-server", ["--version"]);
const cli = spawnSync("redis-cli", ["--version"]);
const skip = skipUnlessAvailable(
  "redis",
  binary.status === 0 ? undefined : "no redis-server binary on PATH for the eviction tests",
);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const utf8 = (text: string) => new TextEncoder().encode(text);
const live = { fingerprint: "fp", leaseMs: 120_000, retentionMs: 120_000 };

async function portFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** A free loopback port; with `bus`, port + 10000 is free too (a Cluster node's bus). */
async function freePort(bus = false): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    if ((await portFree(port)) && (!bus || (await portFree(port + 10_000)))) return port;
  }
  throw new Error("no free port");
}

interface Server {
  port: number;
  client(options?: RedisOptions): Promise<Redis>;
  nodeRedis(options?: AnyRedisClientOptions): Promise<NodeRedis>;
  /** Kills the server, leaving its clients open (reconnecting). */
  kill(): Promise<void>;
  /** Closes its clients, kills it and removes its directory. */
  stop(): Promise<void>;
}

/** The store's client for `checkServer()`: ioredis or node-redis, with a user and password if given. */
type Library = "ioredis" | "node-redis";
const LIBRARIES: Library[] = ["ioredis", "node-redis"];
const storeClient = (
  server: Server,
  library: Library,
  auth: { username?: string; password?: string } = {},
) => (library === "ioredis" ? server.client(auth) : server.nodeRedis(auth));

const running: Server[] = [];
afterAll(async () => {
  await Promise.all(running.map((s) => s.stop()));
});

/** A redis-server of our own, no persistence, with extra arguments (`--maxmemory-policy …`). */
async function startRedis(args: string[], bus = false): Promise<Server> {
  const port = await freePort(bus);
  const dir = mkdtempSync(join(tmpdir(), "idemkit-redis-eviction-"));
  const child: ChildProcess = spawn(
    "redis-server",
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      dir,
      ...args,
    ],
    { stdio: "ignore" },
  );
  const clients: Redis[] = [];
  const nodeRedisClients: NodeRedis[] = [];
  const connect = async (options: RedisOptions = {}) => {
    const client = new Redis({
      port,
      host: "127.0.0.1",
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      ...options,
    });
    client.on("error", () => {});
    clients.push(client);
    await client.connect();
    return client;
  };
  for (let i = 0; ; i++) {
    const probe = new Redis({ port, host: "127.0.0.1", lazyConnect: true, retryStrategy: () => null });
    probe.on("error", () => {});
    const up = await probe.connect().then(
      () => probe.ping(),
      () => undefined,
    );
    probe.disconnect();
    if (up === "PONG") break;
    if (i > 200 || child.exitCode !== null) throw new Error(`redis-server ${args.join(" ")} did not start`);
    await sleep(50);
  }
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const kill = async () => {
    child.kill("SIGKILL");
    await exited;
  };
  let stopped: Promise<void> | undefined;
  const server: Server = {
    port,
    client: connect,
    nodeRedis: async (options = {}) => {
      const client = await nodeRedis({ url: `redis://127.0.0.1:${port}`, ...options });
      nodeRedisClients.push(client);
      return client;
    },
    kill,
    stop: () => {
      stopped ??= (async () => {
        for (const c of clients) c.disconnect();
        for (const c of nodeRedisClients) c.destroy();
        await kill();
        rmSync(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
  running.push(server);
  return server;
}

/**
 * Writes 4 KiB filler keys without a TTL, in pipelined batches, until none of `keys` exists any more
 * (or a bound). Writes refused with OOM (no more evictable keys) are expected and ignored.
 */
async function floodUntilEvicted(client: Redis, keys: string[]): Promise<number> {
  const value = "x".repeat(4096);
  for (let batch = 0; batch < 400; batch++) {
    const pipeline = client.pipeline();
    for (let i = 0; i < 100; i++) pipeline.set(`filler:${batch}:${i}`, value);
    await pipeline.exec();
    if ((await client.exists(...keys)) === 0) return (batch + 1) * 100;
  }
  throw new Error(`${keys.join(", ")} still there after 40000 filler keys`);
}

describe.skipIf(Boolean(skip))("redis maxmemory-policy: what eviction does, and checkServer()", () => {
  for (const policy of ["allkeys-lru", "volatile-lru", "volatile-ttl"]) {
    it(`${policy}: a flood evicts a live claim and a completed outcome; both keys are acquired again, the live one with the same fence`, async () => {
      const server = await startRedis(["--maxmemory", "4mb", "--maxmemory-policy", policy]);
      const client = await server.client();
      const store = createRedisStore({ client });
      const inFlight = `evict:live:${randomUUID()}`;
      const done = `evict:done:${randomUUID()}`;

      const first = await store.claim(inFlight, { ...live, token: "first-owner" });
      expect(first).toEqual({ acquired: true, fence: 1, takeover: false });
      expect((await store.claim(done, { ...live, token: "done-owner" })).acquired).toBe(true);
      expect(
        await store.complete(done, "done-owner", { result: utf8("order 42"), retentionMs: 120_000 }),
      ).toBe(true);
      // Both records are live: a duplicate now gets a conflict and a replay.
      expect(await store.claim(inFlight, { ...live, token: "second-owner" })).toMatchObject({
        acquired: false,
        record: { state: "in_progress", token: "first-owner" },
      });

      await floodUntilEvicted(client, [inFlight, done]);

      // The first owner still holds its lease (120 s), yet a second owner acquires the key with the same
      // fence, and the completed key runs its work again: exactly what noeviction prevents.
      expect(await store.claim(inFlight, { ...live, token: "second-owner" })).toEqual({
        acquired: true,
        fence: 1,
        takeover: false,
      });
      expect(await store.claim(done, { ...live, token: "again" })).toEqual({
        acquired: true,
        fence: 1,
        takeover: false,
      });
      // And the first owner's completion is refused: its outcome is lost.
      expect(await store.complete(inFlight, "first-owner", { result: utf8("x"), retentionMs: 1000 })).toBe(
        false,
      );

      for (const library of LIBRARIES) {
        const checked = createRedisStore({ client: await storeClient(server, library) });
        await expect(checked.checkServer()).rejects.toThrow(RedisStoreError);
        await expect(checked.checkServer()).rejects.toThrow(
          new RegExp(
            `maxmemory-policy is ${policy} on 127\\.0\\.0\\.1:${server.port}; idemkit needs noeviction`,
          ),
        );
      }
      await server.stop();
    });
  }

  it("noeviction: checkServer() resolves; a full Redis refuses new claims (503) and keeps the live claim", async () => {
    const server = await startRedis(["--maxmemory", "4mb", "--maxmemory-policy", "noeviction"]);
    const client = await server.client();
    const store = createRedisStore({ client });
    for (const library of LIBRARIES) {
      expect(await createRedisStore({ client: await storeClient(server, library) }).checkServer()).toEqual([
        { node: `127.0.0.1:${server.port}`, maxmemoryPolicy: "noeviction" },
      ]);
    }
    const key = `full:${randomUUID()}`;
    expect((await store.claim(key, { ...live, token: "first-owner" })).acquired).toBe(true);

    // Fill Redis until it refuses writes.
    const value = "x".repeat(4096);
    let refused = false;
    for (let batch = 0; batch < 100 && !refused; batch++) {
      const pipeline = client.pipeline();
      for (let i = 0; i < 100; i++) pipeline.set(`filler:${batch}:${i}`, value);
      refused = ((await pipeline.exec()) ?? []).some(([error]) => /OOM/.test(String(error)));
    }
    expect(refused).toBe(true);

    // New keys are claimed until the last bytes are used (a pipeline's buffers count towards used memory
    // while it runs), then refused: the store rejects, and core answers 503 (fail closed).
    let refusal: unknown;
    for (let i = 0; i < 5000 && !refusal; i++) {
      refusal = await store.claim(`new:${i}:${randomUUID()}`, { ...live, token: "t" }).then(
        () => undefined,
        (error: unknown) => error,
      );
    }
    expect(refusal).toBeInstanceOf(RedisStoreError);
    expect(String(refusal)).toMatch(/OOM/);
    // The live claim was never evicted: a duplicate gets its record (409), never the key.
    expect(await store.claim(key, { ...live, token: "second-owner" })).toMatchObject({
      acquired: false,
      record: { state: "in_progress", token: "first-owner", fence: 1 },
    });
    await server.stop();
  });

  for (const library of LIBRARIES) {
    it(`${library}: where CONFIG is refused (an ACL without it, as on managed Redis), the policy is read from INFO memory`, async () => {
      const server = await startRedis(["--maxmemory-policy", "allkeys-lru"]);
      const admin = await server.client();
      await admin.call("ACL", "SETUSER", "app", "on", ">secret", "~*", "+@all", "-config");
      const auth = { username: "app", password: "secret" };
      const store = createRedisStore({ client: await storeClient(server, library, auth) });
      await expect(store.checkServer()).rejects.toThrow(
        /maxmemory-policy is allkeys-lru on 127\.0\.0\.1:\d+/,
      );

      await admin.call("CONFIG", "SET", "maxmemory-policy", "noeviction");
      expect(await store.checkServer()).toEqual([
        { node: `127.0.0.1:${server.port}`, maxmemoryPolicy: "noeviction" },
      ]);
      await server.stop();
    });

    it(`${library}: where CONFIG and INFO are both refused, the policy is unknown and the refusals say why`, async () => {
      const server = await startRedis(["--maxmemory-policy", "allkeys-lru"]);
      const admin = await server.client();
      await admin.call("ACL", "SETUSER", "app", "on", ">secret", "~*", "+@all", "-config", "-info");
      const auth = { username: "app", password: "secret" };
      const store = createRedisStore({ client: await storeClient(server, library, auth) });
      const [found, ...rest] = await store.checkServer();
      expect(rest).toEqual([]);
      expect(found).toMatchObject({ node: `127.0.0.1:${server.port}`, maxmemoryPolicy: undefined });
      expect(found?.unknown).toMatch(/CONFIG GET: NOPERM.*; INFO memory: NOPERM/);
      await server.stop();
    });
  }

  it("rejects with a RedisStoreError when the server cannot be reached (ioredis without an offline queue, node-redis with its defaults)", async () => {
    const server = await startRedis([]);
    const clients: RedisClient[] = [
      await server.client({ enableOfflineQueue: false }),
      await server.nodeRedis(),
    ];
    const stores = clients.map((client) => createRedisStore({ client, commandTimeoutMs: 300 }));
    await server.kill();
    for (const store of stores) await expect(store.checkServer()).rejects.toThrow(RedisStoreError);
  });

  it.skipIf(cli.status !== 0)(
    "Cluster: checks every master, and names only the one whose policy evicts",
    { timeout: 60_000 },
    async () => {
      const nodes = await Promise.all(
        ["noeviction", "allkeys-lru", "noeviction"].map((policy) =>
          startRedis(
            ["--cluster-enabled", "yes", "--cluster-node-timeout", "5000", "--maxmemory-policy", policy],
            true,
          ),
        ),
      );
      const create = spawnSync(
        "redis-cli",
        [
          "--cluster",
          "create",
          ...nodes.map((n) => `127.0.0.1:${n.port}`),
          "--cluster-replicas",
          "0",
          "--cluster-yes",
        ],
        { encoding: "utf8", timeout: 30_000 },
      );
      expect(create.status, create.stderr || create.stdout).toBe(0);
      const admin = await nodes[0]!.client();
      for (let i = 0; !/cluster_state:ok/.test(await admin.cluster("INFO")); i++) {
        if (i > 200) throw new Error("the throwaway cluster did not reach cluster_state:ok");
        await sleep(50);
      }
      const rootNodes = nodes.map((n) => ({ host: "127.0.0.1", port: n.port }));
      const cluster = new Cluster(rootNodes);
      cluster.on("error", () => {});
      const nodeRedisClient = await nodeRedisCluster({
        rootNodes: rootNodes.map(({ host, port }) => ({ url: `redis://${host}:${port}` })),
      });
      try {
        const stores = [cluster, nodeRedisClient].map((client) => createRedisStore({ client }));
        for (const store of stores) {
          const error = await store.checkServer().then(
            () => undefined,
            (e: unknown) => e as Error,
          );
          expect(error).toBeInstanceOf(RedisStoreError);
          expect(error?.message).toContain(`maxmemory-policy is allkeys-lru on 127.0.0.1:${nodes[1]!.port};`);
          for (const n of [nodes[0]!, nodes[2]!]) expect(error?.message).not.toContain(String(n.port));
        }

        await (await nodes[1]!.client()).call("CONFIG", "SET", "maxmemory-policy", "noeviction");
        for (const store of stores) {
          const found = await store.checkServer();
          expect(found.map((f) => f.node).sort()).toEqual(nodes.map((n) => `127.0.0.1:${n.port}`).sort());
          expect(found.every((f) => f.maxmemoryPolicy === "noeviction")).toBe(true);
        }
      } finally {
        cluster.disconnect();
        nodeRedisClient.destroy();
        await Promise.all(nodes.map((n) => n.stop()));
      }
    },
  );
});
