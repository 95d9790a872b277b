import { fileURLToPath } from "node:url";
import { usage } from "./errors.js";

/** A Redis Cluster's seed node. */
export interface ClusterNode {
  host: string;
  port: number;
}

/** Which store a URL names, and how to reach it. */
export type Target =
  | { kind: "redis"; url: string }
  | { kind: "redis-cluster"; nodes: ClusterNode[]; tls: boolean; username?: string; password?: string }
  | { kind: "postgres"; url: string }
  | { kind: "mysql"; url: string }
  | { kind: "sqlite"; path: string }
  | { kind: "mongodb"; url: string };

/** The environment variables a URL is taken from, in this order, when `--url` is not given. */
export const URL_VARIABLES = ["IDEMKIT_STORE_URL", "REDIS_URL", "DATABASE_URL"] as const;

export const SCHEMES =
  "redis://, rediss://, redis+cluster://host:port,host:port (rediss+cluster:// with TLS), postgres://, " +
  "postgresql://, mysql://, sqlite:<path>, file:<path>, mongodb://, mongodb+srv://";

/**
 * The store URL: `--url`, else `IDEMKIT_STORE_URL`, else `REDIS_URL` or `DATABASE_URL` (when only one of
 * the two is set: with both, which store an operator meant is a guess, and a purge in the wrong one is
 * not undone). Returns where it came from, for messages.
 */
export function storeUrl(
  flag: string | undefined,
  env: Record<string, string | undefined>,
): { url: string; from: string } {
  if (flag !== undefined) {
    if (flag === "") throw usage("--url is empty");
    return { url: flag, from: "--url" };
  }
  const own = env.IDEMKIT_STORE_URL;
  if (own) return { url: own, from: "IDEMKIT_STORE_URL" };
  const { REDIS_URL: redis, DATABASE_URL: database } = env;
  if (redis && database) {
    throw usage(
      "both REDIS_URL and DATABASE_URL are set: say which store to use with --url or IDEMKIT_STORE_URL",
    );
  }
  if (redis) return { url: redis, from: "REDIS_URL" };
  if (database) return { url: database, from: "DATABASE_URL" };
  throw usage(
    `no store URL: give --url, or set IDEMKIT_STORE_URL (or REDIS_URL, or DATABASE_URL). URLs: ${SCHEMES}`,
  );
}

/** `url` with its password, if any, replaced by `***`: for messages. */
export function redact(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:]*:)[^/@]*@/i, "$1***@");
}

/** The store a URL names (by its scheme), or a usage error saying which URLs work. */
export function parseTarget(url: string): Target {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  const rest = scheme === undefined ? "" : url.slice(scheme.length + 1);
  switch (scheme) {
    case "redis":
    case "rediss":
    case "postgres":
    case "postgresql":
    case "mysql":
    case "mongodb":
    case "mongodb+srv": {
      if (!URL.canParse(url) || !rest.startsWith("//"))
        throw usage(`${redact(url)} is not a valid ${scheme}:// URL`);
      const kind = scheme.startsWith("redis")
        ? "redis"
        : scheme.startsWith("postgres")
          ? "postgres"
          : scheme === "mysql"
            ? "mysql"
            : "mongodb";
      return { kind, url };
    }
    case "redis+cluster":
    case "rediss+cluster":
      return { kind: "redis-cluster", tls: scheme === "rediss+cluster", ...clusterNodes(url, rest) };
    case "sqlite":
    case "file":
      return { kind: "sqlite", path: sqlitePath(url, scheme, rest) };
    default:
      throw usage(`${redact(url)}: unknown kind of store URL; the URL's scheme picks the store: ${SCHEMES}`);
  }
}

/** `sqlite:data/idem.db`, `sqlite:///var/idem.db`, `file:data/idem.db`, `file:///var/idem.db`. */
function sqlitePath(url: string, scheme: string, rest: string): string {
  let path: string;
  if (scheme === "file" && rest.startsWith("//")) {
    try {
      path = fileURLToPath(url);
    } catch (error) {
      throw usage(`${url} is not a valid file: URL (${(error as Error).message})`);
    }
  } else {
    path = rest.startsWith("//") ? rest.slice(2) : rest;
  }
  if (path === "")
    throw usage(`${url}: no database file; write ${scheme}:<path>, e.g. ${scheme}:data/idem.db`);
  return path;
}

/** `redis+cluster://[user:password@]host:port,host:port[/]`: the seed nodes and the credentials. */
function clusterNodes(
  url: string,
  rest: string,
): { nodes: ClusterNode[]; username?: string; password?: string } {
  const bad = (why: string) =>
    usage(`${redact(url)}: ${why}; write redis+cluster://[user:password@]host:port,host:port (seed nodes)`);
  if (!rest.startsWith("//")) throw bad("no seed nodes");
  const authority = rest.slice(2).replace(/[/?#].*$/s, "");
  const at = authority.lastIndexOf("@");
  const hosts = authority.slice(at + 1);
  const credentials: { username?: string; password?: string } = {};
  if (at >= 0) {
    const [user = "", ...password] = authority.slice(0, at).split(":");
    try {
      if (user) credentials.username = decodeURIComponent(user);
      if (password.length > 0) credentials.password = decodeURIComponent(password.join(":"));
    } catch {
      throw bad("its user or password is not percent-encoded correctly");
    }
  }
  const nodes = hosts.split(",").map((node) => {
    const match = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d+))?$/.exec(node.trim());
    const port = Number(match?.[2] ?? 6379);
    if (!match || port < 1 || port > 65_535) throw bad(`${JSON.stringify(node)} is not host:port`);
    return { host: (match[1] as string).replace(/^\[(.*)\]$/, "$1"), port };
  });
  return { nodes, ...credentials };
}
