/** Deterministic JSON: object keys sorted at every depth, so key order never changes a fingerprint. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const entries = Object.keys(value as Record<string, unknown>)
    .sort()
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(",")}}`;
}

interface NodeHash {
  update(data: Uint8Array | string): NodeHash;
  digest(encoding: "hex"): string;
}

// Node (≥ 20.16), Bun and Deno expose their crypto module through `process.getBuiltinModule`, whose
// synchronous hash costs a fraction of `crypto.subtle.digest` (in Node an async job on the thread
// pool: most of the CPU time of a request on a fast store). Elsewhere, Web Crypto.
const nodeCrypto = (
  globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }
).process?.getBuiltinModule?.("node:crypto") as { createHash?: (algorithm: string) => NodeHash } | undefined;
const createHash = typeof nodeCrypto?.createHash === "function" ? nodeCrypto.createHash : undefined;

/** Lowercase hex SHA-256 of `data` (a string is hashed as its UTF-8 bytes). */
export async function sha256Hex(data: Uint8Array | string): Promise<string> {
  if (createHash) return createHash("sha256").update(data).digest("hex");
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

const isJsonType = (contentType: string | null) => contentType !== null && /[/+]json\b/i.test(contentType);

/**
 * Fingerprint of an HTTP request: method, path with query, and body. A JSON body is canonicalised
 * (key order and whitespace do not matter); any other body counts byte for byte.
 */
export async function fingerprintRequest(
  method: string,
  url: string,
  contentType: string | null,
  body: Uint8Array,
): Promise<string> {
  const { pathname, search } = new URL(url);
  let canonicalBody: string | undefined;
  if (body.length > 0 && isJsonType(contentType)) {
    try {
      canonicalBody = `json:${canonicalJson(JSON.parse(new TextDecoder().decode(body)))}`;
    } catch {
      canonicalBody = undefined; // not valid JSON: fall back to the bytes
    }
  }
  const head = new TextEncoder().encode(`${method.toUpperCase()} ${pathname}${search}\n`);
  const tail = canonicalBody !== undefined ? new TextEncoder().encode(canonicalBody) : concat(RAW, body);
  return sha256Hex(concat(head, tail));
}

const RAW = new TextEncoder().encode("raw:");

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
