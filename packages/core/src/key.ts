import { InvalidKeyError } from "./errors.js";

export const MAX_KEY_LENGTH = 255;

// RFC 9110 tchar plus ":" and "/", the characters of an RFC 8941 token (any first character allowed,
// so bare UUIDs and numbers are keys too).
const BARE_KEY = /^[!#$%&'*+\-.^_`|~0-9A-Za-z:/]+$/;

/**
 * Parses an `Idempotency-Key` header value: an RFC 8941 sf-string (`"abc"`, with `\"` and `\\`
 * escapes) or a bare token. One key only: a comma-joined value (the header sent twice, or a list)
 * is refused, and so are parameters (`"k";p=1`), which have no meaning yet. The key is 1–255
 * printable ASCII characters.
 */
export function parseIdempotencyKey(header: string): string {
  const raw = trimSpaces(header);
  const key = raw.startsWith('"') ? parseSfString(raw) : parseBare(raw);
  validateKey(key);
  return key;
}

/** Checks a key for generic use: 1–255 printable ASCII characters (0x20–0x7e). */
export function validateKey(key: string): void {
  if (key.length === 0) throw new InvalidKeyError("Idempotency key is empty");
  if (key.length > MAX_KEY_LENGTH) {
    throw new InvalidKeyError(`Idempotency key is longer than ${MAX_KEY_LENGTH} characters`);
  }
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) throw new InvalidKeyError("Idempotency key must be printable ASCII");
  }
}

function trimSpaces(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && (value[start] === " " || value[start] === "\t")) start++;
  while (end > start && (value[end - 1] === " " || value[end - 1] === "\t")) end--;
  return value.slice(start, end);
}

function parseBare(raw: string): string {
  if (BARE_KEY.test(raw) || raw.length === 0) return raw;
  throw new InvalidKeyError(
    whatFollows(raw) ?? 'A key with characters other than a token\'s must be quoted ("…")',
  );
}

/** Why a value that continues past one key is refused, if it does. */
function whatFollows(rest: string): string | undefined {
  if (rest.includes(",")) return "More than one idempotency key (a repeated header or a list)";
  if (rest.includes(";")) return "Idempotency key parameters are not supported";
  return undefined;
}

// RFC 8941 §4.2.5: a string is DQUOTE *(unescaped / "\" ( DQUOTE / "\" )) DQUOTE.
function parseSfString(input: string): string {
  let out = "";
  for (let i = 1; i < input.length; i++) {
    const ch = input[i]!;
    if (ch === "\\") {
      const next = input[i + 1];
      if (next !== '"' && next !== "\\") throw new InvalidKeyError("Bad escape in quoted idempotency key");
      out += next;
      i++;
    } else if (ch === '"') {
      if (i === input.length - 1) return out;
      throw new InvalidKeyError(
        whatFollows(input.slice(i + 1)) ?? "Unexpected characters after quoted idempotency key",
      );
    } else {
      out += ch;
    }
  }
  throw new InvalidKeyError("Unterminated quoted idempotency key");
}

/** Where a key comes from: HTTP requests and `run()` calls never share keys. */
export type KeyNamespace = "http" | "run";

/**
 * Composes the stored key from a prefix, a namespace, a scope and the client's key. Length-prefixing
 * the scope makes it injective: scope `a:b` + key `c` never meets scope `a` + key `b:c`.
 */
export function composeStoredKey(
  prefix: string,
  namespace: KeyNamespace,
  scope: string,
  key: string,
): string {
  // Stores may encode keys as UTF-8, which cannot hold a lone surrogate: refuse rather than collide.
  if (LONE_SURROGATE.test(scope) || LONE_SURROGATE.test(key) || LONE_SURROGATE.test(prefix)) {
    throw new TypeError("Idempotency keys, scopes and prefixes must be well-formed Unicode strings");
  }
  return `${prefix}${namespace}:${scope.length}:${scope}:${key}`;
}

const LONE_SURROGATE = /\p{Cs}/u;
