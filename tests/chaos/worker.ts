// One worker process of the chaos suite: serves the core HTTP layer (POST /orders, through
// `idem.handle`), `run()` (POST /jobs, through `idem.execute`) and, on PostgreSQL and MySQL, transactional mode
// (POST /tx, through `idem.transactional(store).handle`) over a shared store, and appends
// every claim, handler execution and completion to its own ledger file, synchronously, so that a
// SIGKILL right after a line cannot lose it. Started by the harness with `node --import tsx`.
import { appendFileSync } from "node:fs";
import { createServer } from "node:http";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  ConflictError,
  composeStoredKey,
  createIdempotency,
  type IdempotencyEvent,
  type IdempotencyStore,
  MismatchError,
  StoreUnavailableError,
} from "@idemkit/core";
import { createDynamoDbStore } from "@idemkit/dynamodb";
import { createMySqlStore, type MySqlStore } from "@idemkit/mysql";
import { createPostgresStore, type PostgresStore, quoteIdentifier } from "@idemkit/postgres";
import { createRedisStore } from "@idemkit/redis";
import { createSqliteStore } from "@idemkit/sqlite";
import { Redis } from "ioredis";
import mysql, { type PoolConnection } from "mysql2/promise";
import pg from "pg";

export interface WorkerConfig {
  id: string;
  store: "sqlite" | "redis" | "postgres" | "mysql" | "dynamodb";
  /**
   * SQLite file, Redis port, PostgreSQL or MySQL URL, or DynamoDB endpoint (through the fault proxy where
   * there is one).
   */
  target: string;
  pgSchema?: string;
  mysqlTable?: string;
  dynamoTable?: string;
  redisPrefix?: string;
  ledger: string;
  leaseMs: number;
  heartbeatMs: number;
  storeTimeoutMs: number;
  handlerMs: number;
  /** Pads every outcome with this many bytes (a Redis record of 16 KiB or more makes claims read first). */
  outcomePadBytes?: number;
}

export type LedgerEntry =
  | { e: "claimed" | "takeover" | "completed"; key: string; fence: number; w: string; t: number }
  | { e: "lease-lost"; key: string; fence: number; phase: string; w: string; t: number }
  | { e: "store-error"; key: string; op: string; w: string; t: number }
  | { e: "exec"; key: string; fence: number; execId: string; w: string; t: number }
  /** Transactional mode: the transaction's connection died (`work`: in the handler's query; `store`: the store saw it). */
  | { e: "tx-lost"; key: string; where: "work" | "store"; w: string; t: number };

const config = JSON.parse(process.argv[2] as string) as WorkerConfig;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
export type Unstamped = LedgerEntry extends infer E
  ? E extends LedgerEntry
    ? Omit<E, "w" | "t">
    : never
  : never;
const log = (entry: Unstamped) =>
  appendFileSync(config.ledger, `${JSON.stringify({ ...entry, w: config.id, t: Date.now() })}\n`);

/** The PostgreSQL or MySQL store, for transactional mode. */
let postgresStore: PostgresStore | undefined;
let mysqlStore: MySqlStore | undefined;

function openStore(): IdempotencyStore {
  switch (config.store) {
    case "sqlite":
      return createSqliteStore({ database: config.target });
    case "redis": {
      const client = new Redis({
        host: "127.0.0.1",
        port: Number(config.target),
        connectTimeout: 1000,
        maxRetriesPerRequest: 2,
        retryStrategy: (attempt) => Math.min(attempt * 50, 300),
      });
      client.on("error", () => {});
      return createRedisStore({
        client,
        prefix: config.redisPrefix,
        commandTimeoutMs: config.storeTimeoutMs,
      });
    }
    case "postgres": {
      const pool = new pg.Pool({
        connectionString: config.target,
        max: 8,
        connectionTimeoutMillis: 1500,
        query_timeout: 3000,
      });
      pool.on("error", () => {});
      postgresStore = createPostgresStore({ pool, schema: config.pgSchema });
      return postgresStore;
    }
    case "mysql": {
      // mysql2 has no per-pool statement timeout: core's storeTimeoutMs bounds every store call.
      const pool = mysql.createPool({ uri: config.target, connectionLimit: 8, connectTimeout: 1500 });
      mysqlStore = createMySqlStore({ pool, table: config.mysqlTable });
      return mysqlStore;
    }
    case "dynamodb": {
      // Bounded attempts (the SDK retries a reset or a timeout once); core's storeTimeoutMs bounds the call.
      const client = new DynamoDBClient({
        endpoint: config.target,
        region: "us-east-1",
        credentials: { accessKeyId: "chaos", secretAccessKey: "chaos" },
        maxAttempts: 2,
        requestHandler: { connectionTimeout: 1000, requestTimeout: 1500 },
      });
      return createDynamoDbStore({ client, table: config.dynamoTable ?? "idemkit-chaos" });
    }
  }
}

const onEvent = (event: IdempotencyEvent) => {
  switch (event.type) {
    case "claimed":
    case "takeover":
    case "completed":
      log({ e: event.type, key: event.key, fence: event.fence });
      break;
    case "lease-lost":
      log({ e: "lease-lost", key: event.key, fence: event.fence, phase: event.phase });
      break;
    case "store-error":
      log({ e: "store-error", key: event.key, op: event.operation });
      if ((event.error as Error | undefined)?.name === "ConnectionLostError")
        log({ e: "tx-lost", key: event.key, where: "store" });
      break;
  }
};

const idem = createIdempotency({
  store: openStore(),
  leaseMs: config.leaseMs,
  heartbeatMs: config.heartbeatMs,
  storeTimeoutMs: config.storeTimeoutMs,
  scope: "global",
  onEvent,
});

let executions = 0;
let inFlight = 0;

/** Transactional mode (PostgreSQL, MySQL): the business row and the key commit together, or neither does. */
const transactional = postgresStore ? idem.transactional(postgresStore) : undefined;
const mysqlTransactional = mysqlStore ? idem.transactional(mysqlStore) : undefined;
const txTable = `${quoteIdentifier(config.pgSchema ?? "public")}.tx_orders`;
const mysqlTxTable = `\`${config.mysqlTable}_tx_orders\``;

/** What the handler of POST /tx does in the transaction, in each database's SQL. */
interface TxStatements {
  /** The server's id of the connection (the harness terminates it by this id). */
  pid(): Promise<number>;
  insert(storedKey: string, execId: string): Promise<void>;
  sleep(seconds: number): Promise<void>;
}

const pgStatements = (client: pg.PoolClient): TxStatements => ({
  pid: async () => (await client.query("SELECT pg_backend_pid() AS pid")).rows[0].pid,
  insert: async (storedKey, execId) => {
    await client.query(`INSERT INTO ${txTable} (stored_key, exec_id, w) VALUES ($1, $2, $3)`, [
      storedKey,
      execId,
      config.id,
    ]);
  },
  sleep: async (seconds) => {
    await client.query("SELECT pg_sleep($1)", [seconds]);
  },
});

const mysqlStatements = (client: PoolConnection): TxStatements => ({
  pid: async () => client.threadId,
  insert: async (storedKey, execId) => {
    await client.execute(`INSERT INTO ${mysqlTxTable} (stored_key, exec_id, w) VALUES (?, ?, ?)`, [
      storedKey,
      execId,
      config.id,
    ]);
  },
  sleep: async (seconds) => {
    await client.query("SELECT SLEEP(?)", [seconds]);
  },
});

/**
 * The handler of POST /tx: writes its business row through the transaction's client, announces itself
 * with its backend pid (the harness may terminate that backend now), then waits, alternately outside
 * the database and in its own query. A failed query of its own (the connection died) is answered 503,
 * a status that is not stored: the transaction rolls back and the client retries.
 */
async function transactionalWork(clientKey: string, fence: number, db: TxStatements) {
  const execId = `${config.id}.${++executions}`;
  const storedKey = composeStoredKey("idem:", "http", "", clientKey);
  const body = { key: clientKey, fence, w: config.id, execId };
  try {
    const pid = await db.pid();
    await db.insert(storedKey, execId);
    log({ e: "exec", key: storedKey, fence, execId });
    process.send?.({ type: "exec", key: clientKey, fence, pid });
    // Twice the handler time: room for the harness to strike while the transaction is open.
    if (executions % 2 === 0) await db.sleep((2 * config.handlerMs) / 1000);
    else await sleep(2 * config.handlerMs);
  } catch (error) {
    log({ e: "tx-lost", key: storedKey, where: "work" });
    return Response.json({ error: String((error as Error).message ?? error) }, { status: 503 });
  }
  return Response.json(body, { status: 201 });
}

const pad = config.outcomePadBytes === undefined ? undefined : "x".repeat(config.outcomePadBytes);

/** The side effect under test: recorded, announced (so the harness can strike now), then slow. */
async function work(clientKey: string, namespace: "http" | "run", fence: number) {
  const execId = `${config.id}.${++executions}`;
  log({ e: "exec", key: composeStoredKey("idem:", namespace, "", clientKey), fence, execId });
  process.send?.({ type: "exec", key: clientKey, fence });
  await sleep(config.handlerMs);
  return { key: clientKey, fence, w: config.id, execId, ...(pad !== undefined && { pad }) };
}

const server = createServer(async (req, res) => {
  inFlight++;
  try {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const key = String(req.headers["idempotency-key"] ?? "");
    if (req.url === "/orders") {
      const request = new Request(`http://chaos.local${req.url}`, {
        method: "POST",
        headers: { "idempotency-key": key, "content-type": "application/json" },
        body,
      });
      const response = await idem.handle(request, async (_r, context) =>
        Response.json(await work(context.key as string, "http", context.fence as number), { status: 201 }),
      );
      res.writeHead(response.status, Object.fromEntries(response.headers));
      res.end(Buffer.from(await response.arrayBuffer()));
      return;
    }
    if (req.url === "/tx" && (transactional || mysqlTransactional)) {
      const request = new Request(`http://chaos.local${req.url}`, {
        method: "POST",
        headers: { "idempotency-key": key, "content-type": "application/json" },
        body,
      });
      const response = transactional
        ? await transactional.handle(request, (_r, context) =>
            transactionalWork(context.key as string, context.fence, pgStatements(context.client)),
          )
        : await mysqlTransactional!.handle(request, (_r, context) =>
            transactionalWork(context.key as string, context.fence, mysqlStatements(context.client)),
          );
      res.writeHead(response.status, Object.fromEntries(response.headers));
      res.end(Buffer.from(await response.arrayBuffer()));
      return;
    }
    if (req.url === "/jobs") {
      try {
        const input = JSON.parse(body.toString("utf8"));
        const { value, replayed } = await idem.execute({ key, input }, ({ fence }) =>
          work(key, "run", fence),
        );
        res.writeHead(200, {
          "content-type": "application/json",
          ...(replayed ? { "idempotent-replayed": "true" } : {}),
        });
        res.end(JSON.stringify(value));
      } catch (error) {
        const status =
          error instanceof ConflictError
            ? 409
            : error instanceof StoreUnavailableError
              ? 503
              : error instanceof MismatchError
                ? 422
                : 500;
        res.writeHead(status, { "content-type": "text/plain" });
        res.end(error instanceof Error ? error.message : String(error));
      }
      return;
    }
    res.writeHead(404).end();
  } catch (error) {
    if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
    res.end(String(error));
  } finally {
    inFlight--;
  }
});

process.on("message", (message: { type: string }) => {
  if (message.type === "idle?") process.send?.({ type: "idle", inFlight });
  if (message.type === "exit") process.exit(0);
});
process.on("disconnect", () => process.exit(0));

server.listen(0, "127.0.0.1", () => {
  process.send?.({ type: "ready", port: (server.address() as { port: number }).port });
});
