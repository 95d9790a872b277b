import { describe } from "./options-check.js";
import { MAX_STORE_DURATION_MS } from "./store-options.js";

/**
 * One record as `list` returns it: where it stands, never its outcome bytes, token or fingerprint (read
 * those with `get`).
 */
export interface RecordSummary {
  /** The key exactly as `claim` received it: never the store's own prefix, hash or escaping. */
  key: string;
  state: "in_progress" | "completed";
  fence: number;
  /**
   * When the claim that wrote the record acquired it, in milliseconds since the epoch on the store's
   * clock (a takeover's claim is a new claim; `extend` and `complete` leave it as it is).
   */
  claimedAt: number;
  /** Lease end (in_progress) or retention end (completed), as `get` reports it. */
  expiresAt: number;
}

/** What `list` selects; every field is optional, and the fields combine (AND). */
export interface ListFilter {
  /** Only records in this state. */
  state?: "in_progress" | "completed";
  /**
   * Only records claimed at least this many milliseconds ago, judged by the store's clock (`claimedAt`
   * <= now - `olderThanMs`): with `state: "in_progress"`, the keys held for longer than that, the
   * stuck ones. A number >= 0.
   */
  olderThanMs?: number;
  /**
   * Only keys that start with this text, compared code unit for code unit like keys themselves: never
   * a pattern (`*`, `%`, `_`, `?`, `[`, `\` are plain characters). Default `""`: every key.
   */
  prefix?: string;
  /** The most records one page holds: an integer from 1 to 1000, default 100. */
  limit?: number;
  /** Where to go on: the `cursor` of the previous page, with the same filter. */
  cursor?: string;
}

/** One page of a listing. */
export interface ListPage {
  records: RecordSummary[];
  /**
   * Set when the listing may go on: pass it back, with the same filter, for the next page. A page may
   * hold fewer records than `limit`, even none, and still have a cursor; absent on the last page.
   */
  cursor?: string;
}

/** The most records one page of `list` holds when the filter gives no `limit`. */
export const DEFAULT_LIST_LIMIT = 100;
/** The largest `limit` a `list` call accepts. */
export const MAX_LIST_LIMIT = 1000;

/** A `ListFilter` after `checkListFilter`: defaults filled in, every field of the right type. */
export interface CheckedListFilter {
  state: "in_progress" | "completed" | undefined;
  olderThanMs: number | undefined;
  prefix: string;
  limit: number;
  cursor: string | undefined;
}

const FIELDS: ReadonlySet<string> = new Set(["state", "olderThanMs", "prefix", "limit", "cursor"]);

/**
 * The checks every store's `list` makes, in one place (for store implementers): `filter` with its
 * defaults, or a `TypeError` / `RangeError` naming `where` (e.g. `"@idemkit/redis: list"`) and the field.
 */
export function checkListFilter(where: string, filter: ListFilter | undefined): CheckedListFilter {
  if (filter === undefined) filter = {};
  if (typeof filter !== "object" || filter === null) {
    throw new TypeError(`${where}: the filter must be an object; got ${describe(filter)}`);
  }
  for (const name of Object.keys(filter)) {
    if (!FIELDS.has(name) && (filter as Record<string, unknown>)[name] !== undefined) {
      throw new TypeError(`${where}: unknown filter field "${name}" (known: ${[...FIELDS].join(", ")})`);
    }
  }
  const { state, olderThanMs, prefix = "", limit = DEFAULT_LIST_LIMIT, cursor } = filter;
  if (state !== undefined && state !== "in_progress" && state !== "completed") {
    throw new TypeError(`${where}: state must be "in_progress" or "completed"; got ${describe(state)}`);
  }
  if (
    olderThanMs !== undefined &&
    // Bounded like a lease: no record is older, and a larger age overflows a SQL interval.
    (typeof olderThanMs !== "number" ||
      !Number.isFinite(olderThanMs) ||
      olderThanMs < 0 ||
      olderThanMs > MAX_STORE_DURATION_MS)
  ) {
    throw new RangeError(
      `${where}: olderThanMs must be a number of milliseconds from 0 up to ${MAX_STORE_DURATION_MS}; got ${describe(olderThanMs)}`,
    );
  }
  if (typeof prefix !== "string")
    throw new TypeError(`${where}: prefix must be a string; got ${describe(prefix)}`);
  if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
    throw new RangeError(
      `${where}: limit must be an integer from 1 to ${MAX_LIST_LIMIT}; got ${describe(limit)}`,
    );
  }
  if (cursor !== undefined && (typeof cursor !== "string" || cursor === "")) {
    throw new TypeError(
      `${where}: cursor must be the non-empty string of a previous page; got ${describe(cursor)}`,
    );
  }
  return { state, olderThanMs, prefix, limit, cursor };
}

/** A store's position in a listing as an opaque cursor: its JSON, in base64url (safe in a URL or a shell). */
export function encodeListCursor(position: unknown): string {
  let binary = "";
  for (const byte of new TextEncoder().encode(JSON.stringify(position))) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** The text of a base64url cursor; throws on anything else. */
function fromBase64Url(cursor: string): string {
  if (!/^[A-Za-z0-9_-]*$/.test(cursor)) throw new TypeError("not base64url");
  const binary = atob(cursor.replaceAll("-", "+").replaceAll("_", "/"));
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
}

/**
 * The position `encodeListCursor` encoded, or a `TypeError` naming `where` when `cursor` is not one
 * (`valid` says whether the decoded value has the store's own shape).
 */
export function decodeListCursor<T>(where: string, cursor: string, valid: (value: unknown) => value is T): T {
  let value: unknown;
  try {
    value = JSON.parse(fromBase64Url(cursor));
  } catch {
    value = undefined;
  }
  if (!valid(value)) {
    throw new TypeError(`${where}: cursor ${describe(cursor)} is not a cursor of this store's listing`);
  }
  return value;
}
