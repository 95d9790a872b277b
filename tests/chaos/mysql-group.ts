// The mysql chaos group's setting: a throwaway MariaDB (or the shared server at MYSQL_URL when none can
// start) behind the fault proxy, the store's table, and the business table of the transactional scenario.
import { randomBytes } from "node:crypto";
import { createMySqlStore, migrate } from "@idemkit/mysql";
import mysql from "mysql2/promise";
import { mysqlUrl } from "../model/targets.js";
import type { Cluster, GroupContext } from "./harness.js";
import { FaultProxy } from "./proxy.js";
import { startThrowawayMariadb } from "./servers.js";

export interface MysqlGroup {
  ctx: GroupContext;
  /** Why no throwaway server could start (the store-restart scenario is then skipped). */
  problem?: string;
  close(): Promise<void>;
}

/** Starts the group; `startWorkers` spawns the workers on `target` (through the proxy) and `table`. */
export async function openMysqlGroup(
  startWorkers: (target: string, table: string) => Promise<Cluster>,
): Promise<MysqlGroup> {
  const table = `idemkit_chaos_${randomBytes(3).toString("hex")}`;
  const txTable = `\`${table}_tx_orders\``;
  const throwaway = await startThrowawayMariadb();
  const server = "problem" in throwaway ? undefined : throwaway;
  const url = new URL(server ? server.url : mysqlUrl);
  const pool = mysql.createPool({ uri: url.toString(), connectionLimit: 4 });
  await migrate(pool, { table });
  await pool.query(
    `CREATE TABLE ${txTable} (stored_key VARCHAR(255) NOT NULL, exec_id VARCHAR(64) PRIMARY KEY, w VARCHAR(64) NOT NULL)`,
  );
  const proxy = await new FaultProxy(Number(url.port || 3306)).start();
  const viaProxy = new URL(url.toString());
  viaProxy.hostname = "127.0.0.1";
  viaProxy.port = String(proxy.port);
  const cluster = await startWorkers(viaProxy.toString(), table);
  const transactional = {
    async terminate(pid: number) {
      const [open] = await pool.query(
        "SELECT 1 FROM information_schema.innodb_trx WHERE trx_mysql_thread_id = ?",
        [pid],
      );
      await pool.query(`KILL CONNECTION ${Number(pid)}`).catch(() => {});
      return (open as unknown[]).length > 0;
    },
    async committed(storedKeys: string[]) {
      const [rows] = await pool.query(
        `SELECT stored_key, exec_id, w FROM ${txTable} WHERE stored_key IN (?) ORDER BY exec_id`,
        [storedKeys],
      );
      const byKey = new Map<string, { execId: string; w: string }[]>();
      for (const r of rows as { stored_key: string; exec_id: string; w: string }[])
        byKey.set(r.stored_key, [...(byKey.get(r.stored_key) ?? []), { execId: r.exec_id, w: r.w }]);
      return byKey;
    },
  };
  return {
    ctx: { cluster, store: createMySqlStore({ pool, table }), proxy, server, transactional },
    problem: "problem" in throwaway ? throwaway.problem : undefined,
    async close() {
      await cluster.close();
      await proxy.close();
      await pool.query(`DROP TABLE IF EXISTS \`${table}\`, ${txTable}`).catch(() => {});
      await pool.end().catch(() => {});
      await server?.destroy();
    },
  };
}
