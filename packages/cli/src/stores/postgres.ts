import type { PostgresStore } from "@idemkit/postgres";
import type { Target } from "../connection.js";
import { CliError, EXIT } from "../errors.js";
import { exported, loadOptional } from "../load.js";
import { type OpenStore, quietly, type StoreOptions } from "./types.js";

const INSTALL = "npm install @idemkit/postgres pg";

interface Pool {
  query(text: string): Promise<unknown>;
  end(): Promise<void>;
  on(event: "error", listener: () => void): void;
}

/** The PostgreSQL store over a small pool of its own, each query bounded by `--timeout`. */
export async function openPostgres(
  target: Extract<Target, { kind: "postgres" }>,
  options: StoreOptions,
): Promise<OpenStore> {
  const { createPostgresStore } = await loadOptional<{ createPostgresStore(options: object): PostgresStore }>(
    "@idemkit/postgres",
    "a postgres:// URL",
    INSTALL,
  );
  const Pool = exported<new (config: object) => Pool>(
    await loadOptional("pg", "a postgres:// URL", INSTALL),
    "Pool",
  );
  const pool = new Pool({
    connectionString: target.url,
    max: 2,
    connectionTimeoutMillis: options.timeoutMs,
    query_timeout: options.timeoutMs,
    application_name: "idemkit-cli",
  });
  pool.on("error", () => {}); // an idle client's failure: the next query reports it
  const close = () => quietly(() => pool.end());
  try {
    // Connects now, so that a wrong URL fails before any command runs.
    await pool.query("SELECT 1");
    const store = createPostgresStore({ pool, table: options.table, schema: options.schema });
    try {
      await store.ping();
    } catch (error) {
      // undefined_table, invalid_schema_name: the URL reached a database without the store's table.
      if ((error as { code?: unknown }).code === "42P01" || (error as { code?: unknown }).code === "3F000") {
        const where = `${options.schema ?? "public"}.${options.table ?? "idemkit_keys"}`;
        throw new CliError(
          EXIT.STORE,
          `the database has no table ${where} (is --table or --schema right? the app's migrate() creates it)`,
        );
      }
      throw error;
    }
    return { store, name: "postgres", close };
  } catch (error) {
    await close();
    throw error;
  }
}
