// The bin as an operator runs it: help, usage errors and unreachable stores (one line, the documented exit
// code, never a stack trace), and the optional packages it loads on demand: from where it is installed,
// else from the current directory's project, else exit 3 saying what to install.
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { sqliteSchema } from "@idemkit/sqlite";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { idemkit, oneLine, parsed } from "./testing/run.js";

const packageDir = fileURLToPath(new URL("..", import.meta.url));
const packagesDir = dirname(packageDir);

describe.concurrent("idemkit: the command line", () => {
  it("--help prints the commands, the URLs and the exit codes (exit 0); --version the package's", async () => {
    const help = await idemkit(["--help"]);
    expect(help.code).toBe(0);
    for (const text of [
      "inspect <key>",
      "purge-expired",
      "redis+cluster://",
      "sqlite:<path>",
      "Exit codes: 0 done",
    ]) {
      expect(help.stdout).toContain(text);
    }
    const version = await idemkit(["--version"]);
    expect(version).toMatchObject({ code: 0, stdout: "0.0.0\n" });
  });

  it.each([
    [[], /^idemkit: no command/],
    [["lsit"], /^idemkit: unknown command "lsit"/],
    [["list", "--older-than", "5", "--url", "redis://127.0.0.1"], /^idemkit: --older-than takes a duration/],
    [["list"], /^idemkit: no store URL: give --url, or set IDEMKIT_STORE_URL/],
    [
      ["list", "--url", "cassandra://127.0.0.1/ks"],
      /^idemkit: cassandra:\/\/127.0.0.1\/ks: unknown kind of store URL/,
    ],
    [
      ["list", "--url", "redis://127.0.0.1", "--table", "t"],
      /^idemkit: --table does not apply to a redis store/,
    ],
  ])("usage error %j: exit 2, one line on stderr, nothing on stdout", async (args, message) => {
    const ran = await idemkit(args);
    expect(ran.code).toBe(2);
    expect(oneLine(ran)).toMatch(message);
    expect(ran.stdout).toBe("");
  });

  it("both REDIS_URL and DATABASE_URL set: exit 2 rather than a guess", async () => {
    const env = { REDIS_URL: "redis://127.0.0.1:6379", DATABASE_URL: "postgres://127.0.0.1/test" };
    const ran = await idemkit(["stats"], { env });
    expect(ran.code).toBe(2);
    expect(oneLine(ran)).toMatch(/both REDIS_URL and DATABASE_URL are set: say which store to use/);
  });

  it("with --json, an error is one JSON document on stderr with its kind and exit code", async () => {
    const ran = await idemkit(["list", "--json", "--limit", "x", "--url", "redis://127.0.0.1"]);
    expect(ran.code).toBe(2);
    expect(JSON.parse(ran.stderr)).toEqual({
      error: { code: "usage", exit: 2, message: '--limit takes a whole number of records from 1; got "x"' },
    });
  });

  it.each([
    ["redis://127.0.0.1:1", /cannot reach the redis store at redis:\/\/127.0.0.1:1: .*ECONNREFUSED/],
    ["redis://:secret@127.0.0.1:1", /redis:\/\/:\*\*\*@127.0.0.1:1/],
    [
      "postgres://postgres:secret@127.0.0.1:1/test",
      /cannot reach the postgres store at postgres:\/\/postgres:\*\*\*@127.0.0.1:1\/test: .*ECONNREFUSED/,
    ],
    ["sqlite:/nonexistent/idem.db", /cannot open the SQLite database "\/nonexistent\/idem.db"/],
  ])("a store it cannot reach (%s): exit 4, one line, no password", async (url, message) => {
    const ran = await idemkit(["ping", "--url", url, "--timeout", "2s"]);
    expect(ran.code).toBe(4);
    expect(oneLine(ran)).toMatch(message);
    expect(ran.stderr).not.toContain("secret");
  });
});

describe("idemkit: packages loaded on demand", () => {
  let root: string;
  let cli: string;
  let db: string;
  beforeAll(() => {
    // The CLI installed on its own, as `npm install -g @idemkit/cli` leaves it: its peers are not beside it.
    root = mkdtempSync(join(tmpdir(), "idemkit-cli-"));
    const installed = join(root, "global", "node_modules", "@idemkit");
    mkdirSync(installed, { recursive: true });
    cpSync(join(packageDir, "dist"), join(installed, "cli", "dist"), { recursive: true });
    cpSync(join(packageDir, "package.json"), join(installed, "cli", "package.json"));
    symlinkSync(join(packagesDir, "core"), join(installed, "core"), "dir");
    cli = join(installed, "cli", "dist", "esm", "bin.js");
    // An app's project with the SQLite store and its driver.
    const app = join(root, "app", "node_modules");
    mkdirSync(join(app, "@idemkit"), { recursive: true });
    symlinkSync(join(packagesDir, "sqlite"), join(app, "@idemkit", "sqlite"), "dir");
    symlinkSync(
      dirname(fileURLToPath(import.meta.resolve("better-sqlite3/package.json"))),
      join(app, "better-sqlite3"),
      "dir",
    );
    db = join(root, "app", "idem.db");
    new Database(db).exec(sqliteSchema()).close();
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("without the store's package: exit 3, saying what to install", async () => {
    const ran = await idemkit(["ping", "--url", "redis://127.0.0.1:6379"], { bin: cli, cwd: root });
    expect(ran.code).toBe(3);
    expect(oneLine(ran)).toBe(
      "idemkit: a redis:// URL needs @idemkit/redis, which is not installed: npm install @idemkit/redis ioredis (or @redis/client)",
    );
    const json = await idemkit(["ping", "--json", "--url", "postgres://127.0.0.1/test"], {
      bin: cli,
      cwd: root,
    });
    expect(JSON.parse(json.stderr)).toMatchObject({
      error: { code: "unavailable", exit: 3, message: expect.stringMatching(/needs @idemkit\/postgres/) },
    });
  });

  it("finds the store and its driver in the current directory's project", async () => {
    const ran = await idemkit(["stats", "--json", "--url", `sqlite:${db}`], {
      bin: cli,
      cwd: join(root, "app"),
    });
    expect(ran.code).toBe(0);
    expect(parsed(ran)).toEqual({ inProgress: 0, completed: 0, total: 0 });
  });

  it("a --cursor that is not one of the store's is a usage error (exit 2), not a store failure", async () => {
    const ran = await idemkit(["list", "--cursor", "bm9wZQ", "--url", `sqlite:${db}`], {
      bin: cli,
      cwd: join(root, "app"),
    });
    expect(ran.code).toBe(2);
    expect(oneLine(ran)).toBe(
      'idemkit: @idemkit/sqlite: list: cursor "bm9wZQ" is not a cursor of this store\'s listing',
    );
  });
});
