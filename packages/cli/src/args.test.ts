import { describe, expect, it } from "vitest";
import { parseCommandLine } from "./args.js";
import { parseTarget, redact, storeUrl } from "./connection.js";
import { formatDuration, parseDuration } from "./duration.js";
import { CliError, EXIT } from "./errors.js";

/** The usage error `run` throws (exit 2), as its message. */
function usageOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(EXIT.USAGE);
    return (error as Error).message;
  }
  throw new Error("expected a usage error");
}

describe("the command line", () => {
  it("composes a key with --scope the way core does (prefix, namespace, scope length, scope, key)", () => {
    expect(parseCommandLine(["inspect", "--scope", "acme", "order-1"])).toMatchObject({
      key: "idem:http:4:acme:order-1",
    });
    expect(
      parseCommandLine(["purge", "--scope", "a:b", "--run", "--key-prefix", "app:", "job"]),
    ).toMatchObject({
      key: "app:run:3:a:b:job",
    });
    expect(parseCommandLine(["inspect", "idem:http:4:acme:order-1"])).toMatchObject({
      key: "idem:http:4:acme:order-1",
    });
    expect(parseCommandLine(["list", "--scope", "acme", "--prefix", "ord"])).toMatchObject({
      prefix: "idem:http:4:acme:ord",
    });
    expect(parseCommandLine(["inspect", "--", "-starts-with-a-dash"])).toMatchObject({
      key: "-starts-with-a-dash",
    });
  });

  it("reads the listing options: state, age, prefix, limit, cursor", () => {
    expect(
      parseCommandLine(["list", "--in-progress", "--older-than", "5m", "--limit", "7", "--cursor", "abc"]),
    ).toMatchObject({
      command: "list",
      state: "in_progress",
      olderThanMs: 300_000,
      limit: 7,
      cursor: "abc",
      prefix: undefined,
    });
    expect(parseCommandLine(["list"])).toMatchObject({ limit: 100, state: undefined, json: false });
    expect(parseCommandLine(["stats", "--json", "--timeout", "2s"])).toMatchObject({
      json: true,
      store: { timeoutMs: 2000 },
    });
  });

  it.each([
    [[], /no command/],
    [["lsit"], /unknown command "lsit": give one of inspect, list, purge, purge-expired, stats, ping/],
    [["inspect"], /inspect takes one key: idemkit inspect <key>/],
    [["purge", "a", "b"], /purge takes one key, not 2/],
    [["list", "extra"], /list takes no argument; got "extra"/],
    [["list", "--bogus"], /unknown option --bogus/],
    [["list", "--limit"], /--limit needs a value/],
    [["list", "--limit", "-1"], /^--limit got a value starting with "-": write --limit=<value>$/],
    [["list", "--limit", "0"], /--limit takes a whole number of records from 1; got "0"/],
    [["list", "--limit", "2.5"], /--limit takes a whole number/],
    [["list", "--older-than", "5"], /--older-than takes a duration such as 30s, 5m/],
    [["list", "--older-than", "5 minutes"], /--older-than takes a duration/],
    [["list", "--in-progress", "--completed"], /exclude each other/],
    [["inspect", "k", "--in-progress"], /--in-progress is an option of list, not of inspect/],
    [["stats", "--limit", "3"], /--limit is an option of list, not of stats/],
    [["ping", "--scope", "a"], /--scope is an option of inspect, purge, list, stats, not of ping/],
    [["inspect", "--run", "k"], /--run goes with --scope/],
    [["list", "--redis-client", "jedis"], /--redis-client takes ioredis or node-redis/],
    [["list", "--table", ""], /--table is empty/],
    [["ping", "--timeout", "0s"], /--timeout must be from 1ms/],
  ])("refuses %j: %s", (argv, message) => {
    expect(usageOf(() => parseCommandLine(argv))).toMatch(message);
  });

  it("--help and --version win over everything else", () => {
    expect(parseCommandLine(["list", "--help"])).toEqual({ command: "help" });
    expect(parseCommandLine(["-h"])).toEqual({ command: "help" });
    expect(parseCommandLine(["--version"])).toEqual({ command: "version" });
  });
});

describe("durations", () => {
  it("parses units and sums of them, and prints ages", () => {
    expect([
      parseDuration("-", "500ms"),
      parseDuration("-", "90s"),
      parseDuration("-", "1h30m"),
      parseDuration("-", "2d"),
    ]).toEqual([500, 90_000, 5_400_000, 172_800_000]);
    expect(parseDuration("-", "1.5s")).toBe(1500);
    expect(
      ["", "m", "5", "5mm", "-5m", "5m ago"].map((text) => usageOf(() => parseDuration("--x", text))),
    ).toHaveLength(6);
    expect([850, 42_000, 720_000, 11_100_000, 187_200_000].map(formatDuration)).toEqual([
      "850ms",
      "42s",
      "12m",
      "3h5m",
      "2d4h",
    ]);
  });
});

describe("store URLs", () => {
  it("takes --url, else IDEMKIT_STORE_URL, else REDIS_URL or DATABASE_URL, but not both", () => {
    expect(storeUrl("redis://a", { IDEMKIT_STORE_URL: "redis://b" })).toEqual({
      url: "redis://a",
      from: "--url",
    });
    expect(storeUrl(undefined, { IDEMKIT_STORE_URL: "redis://b", REDIS_URL: "redis://c" }).url).toBe(
      "redis://b",
    );
    expect(storeUrl(undefined, { REDIS_URL: "redis://c" }).url).toBe("redis://c");
    expect(storeUrl(undefined, { DATABASE_URL: "postgres://d" }).url).toBe("postgres://d");
    expect(
      usageOf(() => storeUrl(undefined, { REDIS_URL: "redis://c", DATABASE_URL: "postgres://d" })),
    ).toMatch(/both REDIS_URL and DATABASE_URL are set/);
    expect(usageOf(() => storeUrl(undefined, {}))).toMatch(
      /no store URL: give --url, or set IDEMKIT_STORE_URL/,
    );
  });

  it("picks the store by the scheme", () => {
    expect(parseTarget("rediss://:pw@cache:6380/2")).toEqual({
      kind: "redis",
      url: "rediss://:pw@cache:6380/2",
    });
    expect(parseTarget("redis+cluster://user:p%40ss@10.0.0.1:7000,10.0.0.2,[::1]:7002")).toEqual({
      kind: "redis-cluster",
      tls: false,
      username: "user",
      password: "p@ss",
      nodes: [
        { host: "10.0.0.1", port: 7000 },
        { host: "10.0.0.2", port: 6379 },
        { host: "::1", port: 7002 },
      ],
    });
    expect(parseTarget("rediss+cluster://h:7000")).toMatchObject({ kind: "redis-cluster", tls: true });
    expect(parseTarget("postgresql://u@h/db")).toEqual({ kind: "postgres", url: "postgresql://u@h/db" });
    expect(parseTarget("mysql://root@h:3306/app")).toEqual({ kind: "mysql", url: "mysql://root@h:3306/app" });
    expect(parseTarget("mongodb+srv://u:p@cluster0.example/db")).toMatchObject({ kind: "mongodb" });
    expect(parseTarget("sqlite:data/idem.db")).toEqual({ kind: "sqlite", path: "data/idem.db" });
    expect(parseTarget("sqlite:///var/lib/idem.db")).toEqual({ kind: "sqlite", path: "/var/lib/idem.db" });
    expect(parseTarget("file:///var/lib/my%20idem.db")).toEqual({
      kind: "sqlite",
      path: "/var/lib/my idem.db",
    });
    expect(parseTarget("file:idem.db")).toEqual({ kind: "sqlite", path: "idem.db" });
  });

  it.each([
    ["cassandra://h/ks", /unknown kind of store URL; the URL's scheme picks the store: redis:\/\//],
    ["localhost:6379", /unknown kind of store URL/],
    ["redis:localhost", /is not a valid redis:\/\/ URL/],
    ["redis+cluster://", /"" is not host:port/],
    ["redis+cluster://h:99999", /"h:99999" is not host:port/],
    ["sqlite:", /no database file; write sqlite:<path>/],
  ])("refuses %s", (url, message) => {
    expect(usageOf(() => parseTarget(url))).toMatch(message);
  });

  it("never shows a password", () => {
    expect(redact("redis://:secret@h:6379")).toBe("redis://:***@h:6379");
    expect(redact("postgres://user:secret@h/db")).toBe("postgres://user:***@h/db");
    expect(usageOf(() => parseTarget("redis+cluster://u:secret@h:x"))).not.toMatch(/secret/);
  });
});
