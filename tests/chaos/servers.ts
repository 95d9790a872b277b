// Throwaway store servers for the "store killed and restarted" fault. The shared Redis (6379),
// PostgreSQL (5432) and MariaDB (3307) are never stopped: each group starts its own on a spare port.
import { type ChildProcess, execFile, spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import pg from "pg";

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function until(what: string, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`${what} did not come up within ${timeoutMs} ms`);
}

export interface ThrowawayServer {
  readonly port: number;
  /** Kills the server the hard way (no shutdown), waits for it to be gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data directory. */
  start(): Promise<void>;
  /** Stops it for good and removes its data. */
  destroy(): Promise<void>;
}

/** `undefined` when redis-server is usable, else why not. */
export function redisServerProblem(): string | undefined {
  return spawnSync("redis-server", ["--version"]).status === 0 ? undefined : "no redis-server binary on PATH";
}

/**
 * A redis-server with `appendfsync always`: every acknowledged write is on disk before its reply,
 * so a SIGKILL and restart loses nothing acknowledged (without AOF it would lose everything).
 */
export async function startThrowawayRedis(): Promise<ThrowawayServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "idemkit-chaos-redis-"));
  let child: ChildProcess | undefined;
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", ""];
  args.push("--appendonly", "yes", "--appendfsync", "always");
  const start = async () => {
    child = spawn("redis-server", args, { stdio: "ignore" });
    await until(`redis-server on ${port}`, 10_000, async () => {
      const client = new Redis({ port, host: "127.0.0.1", lazyConnect: true, retryStrategy: () => null });
      client.on("error", () => {});
      try {
        await client.connect();
        return (await client.ping()) === "PONG";
      } finally {
        client.disconnect();
      }
    });
  };
  const kill = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const gone = new Promise((resolve) => c.once("exit", resolve));
    c.kill("SIGKILL");
    await gone;
  };
  await start();
  return {
    port,
    kill,
    start,
    async destroy() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Where PostgreSQL's server binaries are, on any installed version: `PG_BIN` if set, else what
 * `pg_config --bindir` says, else the newest `/usr/lib/postgresql/<version>/bin` (Debian's layout).
 */
const PG_BIN = process.env.PG_BIN ?? findPostgresBin();

function findPostgresBin(): string {
  const bindir = spawnSync("pg_config", ["--bindir"], { encoding: "utf8" });
  if (bindir.status === 0 && existsSync(join(bindir.stdout.trim(), "initdb"))) return bindir.stdout.trim();
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, "bin", "initdb")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  return versions.length > 0 ? join(root, versions[0]!, "bin") : `${root}/<version>/bin`;
}

/**
 * A throwaway PostgreSQL cluster (initdb into a temp dir, pg_ctl on a spare port, fsync on).
 * PostgreSQL refuses to run as root: as root, every command runs as the `postgres` user through
 * `runuser`. Returns the reason instead when that is impossible here.
 */
export async function startThrowawayPostgres(): Promise<
  (ThrowawayServer & { url: string }) | { problem: string }
> {
  const asRoot = process.getuid?.() === 0;
  const wrap = (cmd: string, args: string[]): [string, string[]] =>
    asRoot ? ["runuser", ["-u", "postgres", "--", cmd, ...args]] : [cmd, args];
  const run = (cmd: string, args: string[]) => {
    const [c, a] = wrap(cmd, args);
    return spawnSync(c, a, { encoding: "utf8", timeout: 60_000 });
  };
  if (spawnSync(`${PG_BIN}/initdb`, ["--version"]).status !== 0) return { problem: `no initdb in ${PG_BIN}` };
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "idemkit-chaos-pg-"));
  chmodSync(dir, 0o777);
  if (asRoot && spawnSync("chown", ["postgres:postgres", dir]).status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return { problem: "running as root and cannot hand a data directory to the postgres user" };
  }
  const data = join(dir, "data");
  const init = run(`${PG_BIN}/initdb`, [
    "-D",
    data,
    "-U",
    "postgres",
    "--auth=trust",
    "--no-sync",
    "-E",
    "UTF8",
  ]);
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return { problem: `initdb failed: ${(init.stderr || init.error?.message || "").trim().slice(0, 300)}` };
  }
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=60`;
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const start = async () => {
    const r = run(`${PG_BIN}/pg_ctl`, [
      "-D",
      data,
      "-o",
      options,
      "-l",
      join(dir, "log"),
      "-w",
      "-t",
      "30",
      "start",
    ]);
    if (r.status !== 0) throw new Error(`pg_ctl start failed: ${r.stderr || r.stdout}`);
    await until(`postgres on ${port}`, 15_000, async () => {
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
      client.on("error", () => {});
      try {
        await client.connect();
        await client.query("SELECT 1");
        return true;
      } finally {
        await client.end().catch(() => {});
      }
    });
  };
  // Immediate mode: no checkpoint, no clean shutdown; the restart runs crash recovery.
  const kill = async () => {
    run(`${PG_BIN}/pg_ctl`, ["-D", data, "-m", "immediate", "-w", "stop"]);
  };
  try {
    await start();
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    return { problem: (error as Error).message.slice(0, 300) };
  }
  return {
    port,
    url,
    kill,
    start,
    async destroy() {
      run(`${PG_BIN}/pg_ctl`, ["-D", data, "-m", "immediate", "-w", "stop"]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A throwaway MariaDB, started by the project's own scripts/mariadb.sh on a spare port with a data
 * directory of its own (InnoDB's default `innodb_flush_log_at_trx_commit = 1`: every acknowledged commit
 * is on disk). Killed with SIGKILL: the restart runs InnoDB's crash recovery. Returns the reason instead
 * when it cannot start here.
 */
export async function startThrowawayMariadb(): Promise<
  (ThrowawayServer & { url: string }) | { problem: string }
> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "idemkit-chaos-mariadb-"));
  const script = join(import.meta.dirname, "../../scripts/mariadb.sh");
  const env = { ...process.env, MARIADB_PORT: String(port), MARIADB_DIR: dir };
  const run = (command: "start" | "stop") =>
    new Promise<void>((resolve, reject) =>
      execFile("bash", [script, command], { env, timeout: 120_000 }, (error, stdout, stderr) =>
        error
          ? reject(new Error(`scripts/mariadb.sh ${command}: ${stderr || stdout || error.message}`))
          : resolve(),
      ),
    );
  // Gone, or a zombie nobody reaped yet (the script started it detached).
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
    } catch {
      return false;
    }
  };
  const kill = async () => {
    const pid = Number(readFileSync(join(dir, "mariadb.pid"), "utf8"));
    if (!alive(pid)) return;
    process.kill(pid, "SIGKILL");
    while (alive(pid)) await sleep(20);
  };
  try {
    await run("start");
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    return { problem: (error as Error).message.slice(0, 300) };
  }
  return {
    port,
    url: `mysql://root@127.0.0.1:${port}/test`,
    kill,
    start: () => run("start"),
    async destroy() {
      await run("stop").catch(() => kill());
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
