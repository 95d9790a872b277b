/**
 * The published store suite against a REAL MongoDB server, found in this order:
 * 1. `MONGODB_URL`;
 * 2. a `mongod` binary named by `MONGOD_BIN` or found on PATH: started for this run as a
 *    single-node replica set on a temporary dbpath, on 127.0.0.1 and a free port, stopped after;
 * 3. the standard local port, mongodb://127.0.0.1:27017.
 * With none, the suite is skipped with a visible line (and fails if IDEMKIT_REQUIRE names mongodb).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { runStoreConformance, skipUnlessAvailable } from "@idemkit/conformance";
import { MongoClient } from "mongodb";
import { afterAll, vi } from "vitest";
import { createMongoStore, type MongoStore } from "./mongo-store.js";

vi.setConfig({ testTimeout: 30_000, hookTimeout: 60_000 });

const DEFAULT_URL = "mongodb://127.0.0.1:27017";
const COLLECTION = "idemkit_conformance";
const REPLICA_SET = "idemkit";
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Server {
  url?: string;
  problem?: string;
  stop?: () => Promise<void>;
}

/** Connects, returns the server version, disconnects. Rejects when unreachable. */
async function serverVersion(url: string, timeoutMs: number): Promise<string> {
  const client = new MongoClient(url, { serverSelectionTimeoutMS: timeoutMs });
  try {
    await client.connect();
    const info = await client.db("admin").command({ buildInfo: 1 });
    return String(info.version);
  } finally {
    await client.close();
  }
}

function findMongod(): string | undefined {
  if (process.env.MONGOD_BIN) return process.env.MONGOD_BIN;
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir && existsSync(join(dir, "mongod"))) return join(dir, "mongod");
  }
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await Promise.race([exited, sleep(10_000)]);
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
}

/** Starts `mongod` as a single-node replica set (so `w: "majority"` and retryable writes apply). */
async function startMongod(bin: string): Promise<Server> {
  const dbpath = await mkdtemp(join(tmpdir(), "idemkit-mongod-"));
  const port = await freePort();
  const child = spawn(
    bin,
    [
      "--dbpath",
      dbpath,
      "--bind_ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--replSet",
      REPLICA_SET,
      "--quiet",
    ],
    { stdio: "ignore" },
  );
  let spawnError: Error | undefined;
  child.once("error", (error) => {
    spawnError = error;
  });
  const stop = async () => {
    await stopChild(child);
    await rm(dbpath, { recursive: true, force: true });
  };
  const url = `mongodb://127.0.0.1:${port}/?directConnection=true`;
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (spawnError) throw spawnError;
      if (child.exitCode !== null) throw new Error(`mongod exited with code ${child.exitCode}`);
      try {
        await serverVersion(url, 500);
        break;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await sleep(250);
      }
    }
    const client = await MongoClient.connect(url);
    try {
      const admin = client.db("admin");
      await admin.command({
        replSetInitiate: { _id: REPLICA_SET, members: [{ _id: 0, host: `127.0.0.1:${port}` }] },
      });
      while (!(await admin.command({ hello: 1 })).isWritablePrimary) {
        if (Date.now() > deadline) throw new Error("mongod did not become primary");
        await sleep(200);
      }
    } finally {
      await client.close();
    }
    return { url, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function findServer(): Promise<Server> {
  const envUrl = process.env.MONGODB_URL;
  if (envUrl) {
    return serverVersion(envUrl, 5_000).then(
      () => ({ url: envUrl }),
      (error: Error) => ({ problem: `MONGODB_URL is set but unreachable: ${error.message}` }),
    );
  }
  const bin = findMongod();
  if (bin) {
    return startMongod(bin).catch((error: Error) => ({
      problem: `could not start ${bin}: ${error.message}`,
    }));
  }
  return serverVersion(DEFAULT_URL, 1_000).then(
    () => ({ url: DEFAULT_URL }),
    () => ({ problem: "no MongoDB server: set MONGODB_URL or MONGOD_BIN" }),
  );
}

const server = await findServer();
afterAll(async () => {
  await server.stop?.();
});

const skip = skipUnlessAvailable("mongodb", server.problem);
if (!skip && server.url) {
  console.info(`[idemkit] mongodb suite: MongoDB ${await serverVersion(server.url, 5_000)}`);
}

const clients = new Map<MongoStore, MongoClient>();
let indexed = false;

runStoreConformance<MongoStore>({
  name: "mongodb",
  skip,
  // One client per store instance, so the race tests claim through separate connection pools.
  createStore: async () => {
    const client = await MongoClient.connect(server.url!);
    const store = createMongoStore({
      collection: client.db().collection(COLLECTION),
      writeConcern: { w: "majority" },
    });
    clients.set(store, client);
    if (!indexed) {
      await store.ensureIndexes();
      indexed = true;
    }
    return store;
  },
  teardown: async (store) => {
    await clients.get(store)?.close();
  },
  // Deadlines are judged by the server's clock; a remote server adds a round trip to each wait.
  timing: { leaseMs: 500, toleranceMs: 250 },
});
