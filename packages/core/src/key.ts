import { InvalidKeyError } from "./errors.js";

export const MAX_KEY_LENGTH = 255;

/**
 * Parses an `Idempotency-Key` header value: an RFC 8941 sf-string (`"abc"`, with `\"` and `\\`
 * escapes) or, leniently, a bare token. The result is 1–255 printable ASCII characters.
 */
export function parseIdempotencyKey(header: string): string {
  const raw = header.trim();
  let key: string;
  if (raw.startsWith('"')) {
    key = parseSfString(raw);
  } else {
    key = raw;
    if (key.includes('"') || key.includes("\\"))
      throw new InvalidKeyError("Unquoted key contains quotes or backslashes");
  }
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

// RFC 8941 §4.2.5: a string is DQUOTE *(unescaped / "\" ( DQUOTE / "\" )) DQUOTE, nothing after.
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
      if (i !== input.length - 1)
        throw new InvalidKeyError("Unexpected characters after quoted idempotency key");
      return out;
    } else {
      out += ch;
    }
  }
  throw new InvalidKeyError("Unterminated quoted idempotency key");
}

/**
 * Composes the stored key from a prefix, a scope and the client's key. Length-prefixing the
 * scope makes it injective: scope `a:b` + key `c` never meets scope `a` + key `b:c`.
 */
export function composeStoredKey(prefix: string, scope: string, key: string): string {
  // Stores may encode keys as UTF-8, which cannot hold a lone surrogate: refuse rather than collide.
  if (LONE_SURROGATE.test(scope) || LONE_SURROGATE.test(key) || LONE_SURROGATE.test(prefix)) {
    throw new TypeError("Idempotency keys, scopes and prefixes must be well-formed Unicode strings");
  }
  return `${prefix}${scope.length}:${scope}:${key}`;
}

const LONE_SURROGATE = /\p{Cs}/u;
