// Test support: a throwaway redis-server (or Sentinel) on a spare port, for tests that need a
// replica, a Sentinel or a server whose script cache they own. Never the shared servers.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";

/** Whether nothing listens on `port` now. */
function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** A port from 20000 to 29999 nothing listens on, nor on its Cluster bus port (+10000). */
async function sparePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    if ((await isFree(port)) && (await isFree(port + 10_000))) return port;
  }
}

export interface Throwaway {
  port: number;
  stop(): Promise<void>;
}

/** Starts `redis-server` with `args` (and `--sentinel` when `sentinel` is given a config). */
export async function throwawayRedis(args: string[] = [], sentinelConfig?: string): Promise<Throwaway> {
  const port = await sparePort();
  const dir = mkdtempSync(join(tmpdir(), "idemkit-redis-"));
  const head: string[] = [];
  if (sentinelConfig !== undefined) {
    const file = join(dir, "sentinel.conf");
    writeFileSync(file, `port ${port}\n${sentinelConfig}\n`);
    head.push(file, "--sentinel");
  }
  execFileSync("redis-server", [
    ...head,
    ...["--port", String(port), "--save", "", "--daemonize", "yes", "--dir", dir],
    ...args,
  ]);
  // A daemonized server may not listen yet (seen on a loaded machine: `connect()` rejected with
  // "Connection is closed"): the PING waits in the offline queue while the client retries, up to 10 s.
  const admin = new Redis({ port, lazyConnect: true, retryStrategy: (n) => (n > 200 ? null : 50) });
  admin.on("error", () => {});
  await admin.ping();
  return {
    port,
    async stop() {
      await admin.shutdown("NOSAVE").catch(() => {}); // the connection closes as it answers
      admin.disconnect();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
