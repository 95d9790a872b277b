import { concat } from "./fingerprint.js";

/** An HTTP response as idemkit stores it: status, the replayable headers and the body bytes. */
export interface StoredResponse {
  status: number;
  statusText: string;
  headers: [string, string][];
  body: Uint8Array;
  /** The body was over the size cap and was not stored: the response cannot be replayed. */
  oversized?: { bytes: number };
  /** The body was streamed through (e.g. server-sent events) and deliberately not stored. */
  streamed?: boolean;
}

// Layout: "IK" + version byte + u32 length of a JSON head + the head + the raw body bytes.
const MAGIC_0 = 0x49;
const MAGIC_1 = 0x4b;
const VERSION = 1;

export function encodeStoredResponse(response: StoredResponse): Uint8Array {
  const head = new TextEncoder().encode(
    JSON.stringify({
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
      oversized: response.oversized,
      streamed: response.streamed,
    }),
  );
  const prefix = new Uint8Array(7);
  prefix[0] = MAGIC_0;
  prefix[1] = MAGIC_1;
  prefix[2] = VERSION;
  new DataView(prefix.buffer).setUint32(3, head.length);
  return concat(prefix, head, response.body);
}

export function decodeStoredResponse(bytes: Uint8Array): StoredResponse {
  if (bytes.length < 7 || bytes[0] !== MAGIC_0 || bytes[1] !== MAGIC_1 || bytes[2] !== VERSION) {
    throw new TypeError("Not a stored idemkit HTTP response");
  }
  const headLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(3);
  const head = JSON.parse(new TextDecoder().decode(bytes.subarray(7, 7 + headLength)));
  return { ...head, body: bytes.slice(7 + headLength) };
}

/**
 * Headers never stored or replayed: credentials and cookies (another client must never receive
 * them), hop-by-hop headers (they describe one connection), `Date` (stale on replay) and the length
 * (recomputed from the body).
 */
export const DEFAULT_EXCLUDED_HEADERS = [
  "set-cookie",
  "authorization",
  "www-authenticate",
  "proxy-authenticate",
  "proxy-authorization",
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "date",
  "content-length",
];

export function replayableHeaders(headers: Headers, excluded: ReadonlySet<string>): [string, string][] {
  const kept: [string, string][] = [];
  // Headers named in `Connection` are hop-by-hop as well (RFC 9110 §7.6.1).
  const perConnection = new Set(
    (headers.get("connection") ?? "")
      .split(",")
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
  headers.forEach((value, name) => {
    if (!excluded.has(name) && !perConnection.has(name)) kept.push([name, value]);
  });
  return kept;
}
