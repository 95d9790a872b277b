import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createIdempotency, createMemoryStore } from "@idemkit/core";
import { createSqliteStore, type SqliteStore } from "@idemkit/sqlite";
import { afterAll } from "vitest";
import { describeHttpBehaviour } from "./behaviour-suite.js";

// The core Web-standard handler, called directly with Request objects, on the reference store…
describeHttpBehaviour({
  name: "Web handler on the memory store",
  createStore: () => createMemoryStore(),
  mount: (options, handler) => createIdempotency(options).wrap(handler),
});

// …and on the embedded default, a SQLite file.
const dir = mkdtempSync(join(tmpdir(), "idemkit-http-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
describeHttpBehaviour({
  name: "Web handler on the SQLite store",
  createStore: () => createSqliteStore({ database: join(dir, "keys.db") }),
  closeStore: (store) => (store as SqliteStore).close(),
  mount: (options, handler) => createIdempotency(options).wrap(handler),
});
