// Multi-process fault injection: 3 worker processes (node + tsx) serving the core HTTP layer and
// run() over one shared store, a client driver with retries and duplicates on hot keys, faults
// injected while it runs, and the checker (checker.ts) over the ledgers, the client log and the
// store. Short by default (part of `pnpm test`); CHAOS_SOAK=1 runs the long soak.
import { randomBytes } from "node:crypto";
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { skipUnlessAvailable } from "@idemkit/conformance";
import { createPostgresStore, migrate, quoteIdentifier } from "@idemkit/postgres";
import { createRedisStore } from "@idemkit/redis";
import { createSqliteStore } from "@idemkit/sqlite";
import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { databaseUrl, mongoSkip, mysqlSkip } from "../model/targets.js";
import { type DynamoDbGroup, openDynamoDbGroup } from "./dynamodb-group.js";
import {
  Cluster,
  type Fault,
  formatTable,
  type GroupContext,
  runScenario,
  type ScenarioResult,
  SOAK,
  timing,
} from "./harness.js";
import { type MysqlGroup, openMysqlGroup } from "./mysql-group.js";
import { FaultProxy } from "./proxy.js";
import {
  redisServerProblem,
  startThrowawayPostgres,
  startThrowawayRedis,
  type ThrowawayServer,
} from "./servers.js";

const WORKERS = 3;
const results: ScenarioResult[] = [];
const skipped: string[] = [];
const scenarioTimeout = SOAK ? 900_000 : 60_000;
/** The faults every store behind the proxy runs (each adds its own: a restart, a killed transaction). */
const NETWORK_FAULTS: readonly Fault[] = [
  "none",
  "worker SIGKILL",
  "worker SIGSTOP",
  "proxy delay",
  "proxy blackhole",
  "proxy reset",
  "proxy drop reply",
];

afterAll(() => {
  if (results.length === 0) return;
  // The soak runner (soak.ts) collects every pass's rows from here.
  const collect = process.env.CHAOS_RESULTS;
  if (collect) appendFileSync(collect, results.map((r) => `${JSON.stringify(r)}\n`).join(""));
  const table = formatTable(results);
  const file = join(import.meta.dirname, "last-run.txt");
  writeFileSync(file, `${table}\n${skipped.map((s) => `skipped: ${s}`).join("\n")}\n`);
  console.log(
    `\nchaos ${SOAK ? "soak" : "short run"} (${WORKERS} workers, lease ${timing.leaseMs} ms)\n${table}\n${skipped.map((s) => `skipped: ${s}`).join("\n")}\n(also in ${file})`,
  );
});

function scenario(store: string, fault: Fault, ctx: () => GroupContext) {
  it(`${store}: ${fault}: no double execution, no stale overwrite, nothing acknowledged lost`, {
    timeout: scenarioTimeout,
  }, async () => {
    const result = await runScenario(store, ctx(), fault);
    results.push(result);
    expect(result.violations.slice(0, 12), `${result.violations.length} violations`).toEqual([]);
    expect(result.executions).toBeGreaterThan(0);
  });
}

function notApplicable(store: string, fault: Fault, reason: string) {
  skipped.push(`${store}: ${fault}: ${reason}`);
  it.skip(`${store}: ${fault} (skipped: ${reason})`, () => {});
}

async function startCluster(base: ConstructorParameters<typeof Cluster>[0], dir: string): Promise<Cluster> {
  const cluster = new Cluster(base, dir);
  for (let i = 0; i < WORKERS; i++) await cluster.spawn();
  return cluster;
}

const workerTiming = {
  leaseMs: timing.leaseMs,
  heartbeatMs: timing.heartbeatMs,
  storeTimeoutMs: timing.storeTimeoutMs,
  handlerMs: timing.handlerMs,
};

describe("chaos on sqlite (one database file shared by the worker processes)", () => {
  // Made when the group starts, so a filtered run that skips the group leaves nothing behind.
  let dir = "";
  let ctx: GroupContext;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "idemkit-chaos-sqlite-"));
    const file = join(dir, "keys.db");
    const store = createSqliteStore({ database: file });
    const cluster = await startCluster({ store: "sqlite", target: file, ...workerTiming }, dir);
    ctx = { cluster, store };
  }, 120_000);
  afterAll(async () => {
    await ctx?.cluster.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  scenario("sqlite", "none", () => ctx);
  scenario("sqlite", "worker SIGKILL", () => ctx);
  scenario("sqlite", "worker SIGSTOP", () => ctx);
  notApplicable(
    "sqlite",
    "store restart",
    "embedded: the store is a file, a killed worker is the store crash",
  );
  notApplicable("sqlite", "proxy reset", "embedded: no network between the workers and the store");
});

const redisSkip = skipUnlessAvailable("redis", redisServerProblem());

/**
 * A chaos group on a throwaway redis-server behind the fault proxy; `body` declares its scenarios, given
 * the group's context and the test process's own client of the server.
 */
function redisGroup(
  title: string,
  tag: string,
  worker: { outcomePadBytes?: number },
  body: (ctx: () => GroupContext, direct: () => Redis) => void,
) {
  describe.skipIf(Boolean(redisSkip))(`${title}${redisSkip ? ` (skipped: ${redisSkip})` : ""}`, () => {
    let dir = "";
    let ctx: GroupContext;
    let server: ThrowawayServer;
    let direct: Redis;
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), `idemkit-chaos-${tag}-ledgers-`));
      server = await startThrowawayRedis();
      const proxy = await new FaultProxy(server.port).start();
      const redisPrefix = `${tag}:${randomBytes(3).toString("hex")}:`;
      direct = new Redis({ host: "127.0.0.1", port: server.port, maxRetriesPerRequest: 5 });
      direct.on("error", () => {});
      const store = createRedisStore({ client: direct, prefix: redisPrefix, commandTimeoutMs: 3000 });
      const cluster = await startCluster(
        { store: "redis", target: String(proxy.port), redisPrefix, ...worker, ...workerTiming },
        dir,
      );
      ctx = { cluster, store, proxy, server };
    }, 120_000);
    afterAll(async () => {
      await ctx?.cluster.close();
      await ctx?.proxy?.close();
      direct?.disconnect();
      await server?.destroy();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });
    body(
      () => ctx,
      () => direct,
    );
  });
}

redisGroup(
  "chaos on redis (a throwaway redis-server, appendfsync always, behind the fault proxy)",
  "chaos",
  {},
  (ctx) => {
    for (const fault of [...NETWORK_FAULTS, "store restart"] as Fault[]) scenario("redis", fault, ctx);
  },
);

// Outcomes of 20 KiB: each is kept aside (an RPUSH of a pending list beside COMPLETE_ASIDE, which moves it
// into place for its owner only: packages/redis/src/scripts.ts), and after a claim meets one, the store's
// next claims read the key with a plain GET and LRANGE beside CLAIM_IF_ABSENT
// (packages/redis/src/large-reads.ts), through the same faults.
redisGroup(
  "chaos on redis, 20 KiB outcomes (claims read first), behind the fault proxy",
  "chaos-large",
  { outcomePadBytes: 20_480 },
  (ctx, direct) => {
    const faults: Fault[] = ["none", "worker SIGKILL", "proxy delay", "proxy reset", "proxy drop reply"];
    // Plain GETs as Redis's MONITOR sees them: INFO's count has every script's own GET in it.
    let plainGets = 0;
    let monitor: Redis | undefined;
    beforeAll(async () => {
      monitor = await direct().monitor();
      monitor.on("error", () => {}); // as `direct`: a server gone mid-run must not throw unhandled
      monitor.on("monitor", (_time: string, args: string[], source: string) => {
        if (source !== "lua" && args[0]?.toLowerCase() === "get") plainGets++;
      });
    });
    afterAll(() => monitor?.disconnect());
    for (const fault of faults) scenario("redis, 20 KiB outcomes", fault, ctx);
    it("the workers' claims did read first: Redis ran plain GETs, not from a script (nothing else here sends one)", () => {
      expect(plainGets).toBeGreaterThan(0);
    });
    it("the outcomes were kept aside: Redis ran RENAMEs (only COMPLETE_ASIDE sends one)", async () => {
      const stats = await direct().info("commandstats");
      expect(Number(/cmdstat_rename:calls=(\d+)/.exec(stats)?.[1] ?? 0)).toBeGreaterThan(0);
    });
  },
);

const pgProbe = await (async () => {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    return undefined;
  } catch (error) {
    return `PostgreSQL is not reachable (${(error as Error).message})`;
  } finally {
    await client.end().catch(() => {});
  }
})();
const postgresSkip = skipUnlessAvailable("postgres", pgProbe);
describe.skipIf(Boolean(postgresSkip))(
  `chaos on postgres (a throwaway cluster, or the shared server if none can start, behind the fault proxy)${postgresSkip ? ` (skipped: ${postgresSkip})` : ""}`,
  () => {
    let dir = "";
    const schema = `idemkit_chaos_${randomBytes(3).toString("hex")}`;
    let ctx: GroupContext;
    let pool: pg.Pool;
    let throwaway: Awaited<ReturnType<typeof startThrowawayPostgres>> | undefined;
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "idemkit-chaos-pg-ledgers-"));
      // Started here, not at import, so a filtered run never leaves a cluster behind.
      throwaway = await startThrowawayPostgres();
      const url = new URL("problem" in throwaway ? databaseUrl : throwaway.url);
      pool = new pg.Pool({ connectionString: url.toString(), max: 4 });
      pool.on("error", () => {});
      await migrate(pool, { schema });
      const txTable = `${quoteIdentifier(schema)}.tx_orders`;
      await pool.query(
        `CREATE TABLE ${txTable} (stored_key text NOT NULL, exec_id text PRIMARY KEY, w text NOT NULL)`,
      );
      const proxy = await new FaultProxy(Number(url.port || 5432)).start();
      const viaProxy = new URL(url.toString());
      viaProxy.hostname = "127.0.0.1";
      viaProxy.port = String(proxy.port);
      const cluster = await startCluster(
        { store: "postgres", target: viaProxy.toString(), pgSchema: schema, ...workerTiming },
        dir,
      );
      const server = "problem" in throwaway ? undefined : throwaway;
      const transactional = {
        async terminate(pid: number) {
          const { rows } = await pool.query(
            "SELECT pg_terminate_backend(pid) AS done, state FROM pg_stat_activity WHERE pid = $1",
            [pid],
          );
          return rows[0]?.done === true && rows[0].state !== "idle";
        },
        async committed(storedKeys: string[]) {
          const { rows } = await pool.query(
            `SELECT stored_key, exec_id, w FROM ${txTable} WHERE stored_key = ANY($1) ORDER BY exec_id`,
            [storedKeys],
          );
          const byKey = new Map<string, { execId: string; w: string }[]>();
          for (const r of rows)
            byKey.set(r.stored_key, [...(byKey.get(r.stored_key) ?? []), { execId: r.exec_id, w: r.w }]);
          return byKey;
        },
      };
      ctx = { cluster, store: createPostgresStore({ pool, schema }), proxy, server, transactional };
    }, 120_000);
    afterAll(async () => {
      await ctx?.cluster.close();
      await ctx?.proxy?.close();
      await pool?.query(`DROP SCHEMA IF EXISTS ${quoteIdentifier(schema)} CASCADE`).catch(() => {});
      await pool?.end().catch(() => {});
      if (throwaway && !("problem" in throwaway)) await throwaway.destroy();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });
    for (const fault of NETWORK_FAULTS) scenario("postgres", fault, () => ctx);
    it("postgres: backend terminated mid-transaction (transactional mode): no crash, exactly one commit per key, every 2xx the stored outcome", {
      timeout: scenarioTimeout,
    }, async () => {
      const result = await runScenario("postgres", ctx, "backend terminated mid-transaction");
      results.push(result);
      expect(result.violations.slice(0, 12), `${result.violations.length} violations`).toEqual([]);
      expect(result.executions).toBeGreaterThan(0);
      expect(result.cut, "transactions whose connection a worker saw die").toBeGreaterThan(0);
    });
    it("postgres: store restart (crash with pg_ctl -m immediate, restart): nothing acknowledged lost", {
      timeout: scenarioTimeout,
    }, async (test) => {
      if (throwaway && "problem" in throwaway) {
        skipped.push(`postgres: store restart: no throwaway cluster: ${throwaway.problem}`);
        test.skip(`no throwaway PostgreSQL cluster: ${throwaway.problem}`);
      }
      const result = await runScenario("postgres", ctx, "store restart");
      results.push(result);
      expect(result.violations.slice(0, 12), `${result.violations.length} violations`).toEqual([]);
    });
  },
);

describe.skipIf(Boolean(mysqlSkip))(
  `chaos on mysql (a throwaway MariaDB, or the shared server if none can start, behind the fault proxy)${mysqlSkip ? ` (skipped: ${mysqlSkip})` : ""}`,
  () => {
    let dir = "";
    let group: MysqlGroup | undefined;
    const ctx = () => group!.ctx;
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "idemkit-chaos-mysql-ledgers-"));
      group = await openMysqlGroup((target, mysqlTable) =>
        startCluster({ store: "mysql", target, mysqlTable, ...workerTiming }, dir),
      );
    }, 120_000);
    afterAll(async () => {
      await group?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });
    for (const fault of NETWORK_FAULTS) scenario("mysql", fault, ctx);
    it("mysql: backend terminated mid-transaction (transactional mode, KILL CONNECTION): no crash, exactly one commit per key, every 2xx the stored outcome", {
      timeout: scenarioTimeout,
    }, async () => {
      const result = await runScenario("mysql", ctx(), "backend terminated mid-transaction");
      results.push(result);
      expect(result.violations.slice(0, 12), `${result.violations.length} violations`).toEqual([]);
      expect(result.executions).toBeGreaterThan(0);
      expect(result.cut, "transactions whose connection a worker saw die").toBeGreaterThan(0);
    });
    it("mysql: store restart (MariaDB killed with SIGKILL, restarted): nothing acknowledged lost", {
      timeout: scenarioTimeout,
    }, async (test) => {
      if (group?.problem) {
        skipped.push(`mysql: store restart: no throwaway MariaDB: ${group.problem}`);
        test.skip(`no throwaway MariaDB: ${group.problem}`);
      }
      const result = await runScenario("mysql", ctx(), "store restart");
      results.push(result);
      expect(result.violations.slice(0, 12), `${result.violations.length} violations`).toEqual([]);
    });
  },
);

describe("chaos on dynamodb (dynalite in this process, behind the fault proxy)", () => {
  let dir = "";
  let group: DynamoDbGroup | undefined;
  const ctx = () => group!.ctx;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "idemkit-chaos-dynamodb-ledgers-"));
    group = await openDynamoDbGroup((target, dynamoTable) =>
      startCluster({ store: "dynamodb", target, dynamoTable, ...workerTiming }, dir),
    );
  }, 120_000);
  afterAll(async () => {
    await group?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  // No store restart: dynalite keeps its tables in memory (a restart would be a new, empty database).
  for (const fault of NETWORK_FAULTS) scenario("dynamodb", fault, ctx);
});

describe.skip(`chaos on mongodb (skipped: ${mongoSkip || "no multi-process chaos harness for MongoDB yet"})`, () => {
  it("not run", () => {});
});
