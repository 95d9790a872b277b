import { runStoreConformance } from "@idemkit/conformance";
import type { Pool } from "mysql2/promise";
import { afterAll, beforeAll } from "vitest";
import { createMySqlStore, type MySqlStore } from "./store.js";
import { freshTable, newPool, skip } from "./test-support.js";

let fresh: Awaited<ReturnType<typeof freshTable>> | undefined;
const pools = new Map<MySqlStore, Pool>();

beforeAll(async () => {
  if (!skip) fresh = await freshTable("conformance");
});
afterAll(async () => {
  await fresh?.drop();
});

runStoreConformance<MySqlStore>({
  name: "mysql",
  skip,
  // A separate Pool per store, so that the race tests claim through separate connections.
  createStore() {
    const pool = newPool({ connectionLimit: 20 });
    const store = createMySqlStore({ pool, table: fresh!.table });
    pools.set(store, pool);
    return store;
  },
  async teardown(store) {
    await pools.get(store)?.end();
  },
  purge: (store) => store.purgeExpired({ limit: 100_000 }),
});
