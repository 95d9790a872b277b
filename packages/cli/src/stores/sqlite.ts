import type { SqliteStore } from "@idemkit/sqlite";
import type { Target } from "../connection.js";
import { CliError, EXIT } from "../errors.js";
import { loadOptional } from "../load.js";
import { type OpenStore, quietly, type StoreOptions } from "./types.js";

const INSTALL = "npm install @idemkit/sqlite better-sqlite3";

interface Database {
  close(): void;
}
type DatabaseConstructor = new (path: string, options: object) => Database;

/**
 * The SQLite store on an existing file: never created (a mistyped path would otherwise make an empty
 * database), read-only unless the command writes, and no table made (`createSchema: false`).
 */
export async function openSqlite(
  target: Extract<Target, { kind: "sqlite" }>,
  options: StoreOptions,
): Promise<OpenStore> {
  const { createSqliteStore } = await loadOptional<{ createSqliteStore(options: object): SqliteStore }>(
    "@idemkit/sqlite",
    "a sqlite: URL",
    INSTALL,
  );
  const mod = await loadOptional<{ default?: DatabaseConstructor }>(
    "better-sqlite3",
    "a sqlite: URL",
    INSTALL,
  );
  const Database = (mod.default ?? mod) as DatabaseConstructor;
  let db: Database;
  try {
    db = new Database(target.path, {
      fileMustExist: true,
      readonly: !options.writes,
      timeout: options.timeoutMs,
    });
  } catch (error) {
    throw new CliError(
      EXIT.STORE,
      `cannot open the SQLite database ${JSON.stringify(target.path)}: ${(error as Error).message}`,
    );
  }
  const close = () => quietly(() => db.close());
  try {
    const store = createSqliteStore({
      database: db,
      table: options.table,
      createSchema: false,
      purgeEvery: 0,
    });
    return { store, name: "sqlite", close };
  } catch (error) {
    await close();
    const table = options.table ?? "idemkit_keys";
    if (/no such table/.test((error as Error).message)) {
      throw new CliError(
        EXIT.STORE,
        `${JSON.stringify(target.path)} has no table ${JSON.stringify(table)} (is --table right?)`,
      );
    }
    throw error;
  }
}
