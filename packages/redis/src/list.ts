import {
  checkListFilter,
  decodeListCursor,
  encodeListCursor,
  type ListFilter,
  type ListPage,
  type RecordSummary,
} from "@idemkit/core";
import type { Connection, Reply, Server } from "./clients.js";
import { RedisStoreError } from "./errors.js";
import { type Script, SUMMARY } from "./scripts.js";

const WHERE = "@idemkit/redis: list";
/** How much of the keyspace one `SCAN` walks (a hint to Redis: it may return more or fewer keys). */
const SCAN_COUNT = "1000";
/** The most `SCAN` calls one page makes: a page over a large keyspace with few matches ends early. */
const SCANS_PER_PAGE = 20;
/** How many keys' headers are read at once (each is one script on its key, pipelined by the client). */
const READS_AT_ONCE = 100;

/**
 * Where a listing stands: the master it scans (by `host:port`), the `SCAN` cursor on it, and, when the
 * last page stopped inside that cursor's batch, the last key it listed there (the batch is read again
 * and listed past that key, in code unit order).
 */
interface Position {
  node: string;
  scan: string;
  after?: string;
}

const isPosition = (value: unknown): value is Position => {
  const { node, scan, after } = (value ?? {}) as Partial<Record<keyof Position, unknown>>;
  return (
    typeof node === "string" &&
    typeof scan === "string" &&
    /^[0-9]+$/.test(scan) &&
    (after === undefined || typeof after === "string")
  );
};

/** `text` as a `SCAN MATCH` glob that matches only itself: `*`, `?`, `[`, `]` and `\` escaped. */
const globEscape = (text: string) => text.replace(/[*?[\]\\]/g, "\\$&");

/** SCAN's reply: the next cursor and a batch of keys (strings, as the servers' commands reply). */
function scanned(reply: unknown): [string, string[]] {
  if (Array.isArray(reply) && reply.length === 2 && Array.isArray(reply[1])) {
    return [String(reply[0]), reply[1].map(String)];
  }
  throw new RedisStoreError("list", `unexpected SCAN reply ${JSON.stringify(reply)}`);
}

/** The summary of `key` from SUMMARY's reply `[s, n, d, c]`, or `undefined` when it is not listed. */
function summaryOf(key: string, reply: Reply): RecordSummary | undefined {
  if (!Array.isArray(reply) || reply.length !== 4) return undefined;
  const [state, fence, deadline, claimed] = reply.map((part) =>
    Buffer.isBuffer(part) ? part.toString("latin1") : part,
  );
  const numbers = [fence, deadline, claimed].map(Number);
  if (!numbers.every(Number.isSafeInteger) || (state !== "p" && state !== "c")) return undefined;
  const [n, d, c] = numbers as [number, number, number];
  return { key, state: state === "p" ? "in_progress" : "completed", fence: n, claimedAt: c, expiresAt: d };
}

/** What `list` uses of the store: its client, its prefix, its bounded calls. */
export interface ListDependencies {
  connection: Connection;
  prefix: string;
  /** Runs `script` on the store's `prefix` + `key` (routed to its node), bounded by the store's timeout. */
  run(operation: string, script: Script, key: string, args: string[]): Promise<Reply>;
  bounded<T>(operation: string, reply: Promise<T>): Promise<T>;
}

/**
 * The store's `list`: `SCAN … MATCH <prefix>*` on the client's server, or on every master of a Cluster
 * one after the other (in `host:port` order), then one script per key found that reads its header and
 * judges it by Redis's clock (`SUMMARY`). The cursor names the master: a listing whose master is gone
 * (a failover) fails, and starts again.
 */
export function createLister({ connection, prefix, run, bounded }: ListDependencies) {
  return async function list(filter?: ListFilter): Promise<ListPage> {
    const { state, olderThanMs, prefix: wanted, limit, cursor } = checkListFilter(WHERE, filter);
    const servers = [...(await bounded("list", connection.servers()))].sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
    const first = servers[0];
    if (first === undefined) throw new RedisStoreError("list", "the client knows no server");
    let at: Position =
      cursor === undefined ? { node: first.name, scan: "0" } : decodeListCursor(WHERE, cursor, isPosition);
    // What SCAN returns: the client's keyPrefix, the store's prefix, then the key as the store was given it.
    const stored = connection.keyPrefix + prefix;
    const pattern = `${globEscape(stored + wanted)}*`;
    const args = [
      state === undefined ? "" : state === "in_progress" ? "p" : "c",
      olderThanMs === undefined ? "" : String(Math.ceil(olderThanMs)),
    ];
    const records: RecordSummary[] = [];

    /** The position after a whole batch of `server`: its next cursor, else the next master, else the end. */
    const past = (index: number, next: string): Position | undefined => {
      if (next !== "0") return { node: (servers[index] as Server).name, scan: next };
      const following = servers[index + 1];
      return following && { node: following.name, scan: "0" };
    };
    const page = (position: Position | undefined): ListPage =>
      position === undefined ? { records } : { records, cursor: encodeListCursor(position) };

    for (let scans = 0; scans < SCANS_PER_PAGE; scans++) {
      const index = servers.findIndex((server) => server.name === at.node);
      const server = servers[index];
      if (server === undefined) {
        throw new RedisStoreError(
          "list",
          `the cursor's master ${at.node} is not one of the client's (${servers.map((s) => s.name).join(", ")}): ` +
            "the Cluster changed during the listing; start it again",
        );
      }
      const [next, found] = scanned(
        await bounded("list", server.command(["SCAN", at.scan, "MATCH", pattern, "COUNT", SCAN_COUNT])),
      );
      const { after } = at;
      const keys = [...new Set(found)]
        .filter((key) => key.startsWith(stored))
        .map((key) => key.slice(stored.length))
        .filter((key) => after === undefined || key > after)
        .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      for (let i = 0; i < keys.length; i += READS_AT_ONCE) {
        const batch = keys.slice(i, i + READS_AT_ONCE);
        const replies = await Promise.all(batch.map((key) => run("list", SUMMARY, key, args)));
        for (const [j, reply] of replies.entries()) {
          const summary = summaryOf(batch[j] as string, reply);
          if (summary === undefined) continue;
          records.push(summary);
          if (records.length < limit) continue;
          // Full: go on after this key, in this batch if it has more keys, else past it.
          const more = i + j + 1 < keys.length;
          return page(more ? { node: at.node, scan: at.scan, after: summary.key } : past(index, next));
        }
      }
      const following = past(index, next);
      if (following === undefined) return page(undefined);
      at = following;
    }
    return page(at);
  };
}
