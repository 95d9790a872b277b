import type { MySqlStore } from "@idemkit/mysql";
import type { Target } from "../connection.js";
import { CliError, EXIT } from "../errors.js";
import { exported, loadOptional } from "../load.js";
import { type OpenStore, quietly, type StoreOptions } from "./types.js";

const INSTALL = "npm install @idemkit/mysql mysql2";

interface Pool {
  end(): Promise<void>;
  on(event: "error", listener: () => void): void;
}

/** ER_NO_SUCH_TABLE, ER_BAD_DB_ERROR: the URL reached a server without the store's table. */
const MISSING = new Set(["ER_NO_SUCH_TABLE", "ER_BAD_DB_ERROR"]);

/** The MySQL / MariaDB store over a small pool of its own, on the URL's database. */
export async function openMySql(
  target: Extract<Target, { kind: "mysql" }>,
  options: StoreOptions,
): Promise<OpenStore> {
  const { createMySqlStore } = await loadOptional<{ createMySqlStore(options: object): MySqlStore }>(
    "@idemkit/mysql",
    "a mysql:// URL",
    INSTALL,
  );
  const createPool = exported<(config: object) => Pool>(
    await loadOptional("mysql2/promise", "a mysql:// URL", INSTALL),
    "createPool",
  );
  const pool = createPool({ uri: target.url, connectionLimit: 2, connectTimeout: options.timeoutMs });
  const close = () => quietly(() => pool.end());
  try {
    const store = createMySqlStore({ pool, table: options.table });
    try {
      await store.ping();
    } catch (error) {
      if (MISSING.has(String((error as { code?: unknown }).code))) {
        throw new CliError(
          EXIT.STORE,
          `${(error as Error).message} (is --table right? the app's migrate() creates the table)`,
        );
      }
      throw error;
    }
    return { store, name: "mysql", close };
  } catch (error) {
    await close();
    throw error;
  }
}
