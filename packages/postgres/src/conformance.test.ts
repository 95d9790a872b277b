import { runStoreConformance } from "@idemkit/conformance";
import type pg from "pg";
import { afterAll, beforeAll } from "vitest";
import { createPostgresStore, type PostgresStore } from "./store.js";
import { freshTables, newPool, skip } from "./test-support.js";

let tables: Awaited<ReturnType<typeof freshTables>> | undefined;
const pools = new Map<PostgresStore, pg.Pool>();

beforeAll(async () => {
  if (!skip) tables = await freshTables("conformance");
});
afterAll(async () => {
  await tables?.drop();
});

runStoreConformance<PostgresStore>({
  name: "postgres",
  skip,
  // A separate Pool per store, so that the race tests claim through separate connections.
  createStore() {
    const pool = newPool({ max: 20 });
    const store = createPostgresStore({ pool, ...tables!.names });
    pools.set(store, pool);
    return store;
  },
  async teardown(store) {
    await pools.get(store)?.end();
  },
  purge: (store) => store.purgeExpired({ limit: 100_000 }),
});
