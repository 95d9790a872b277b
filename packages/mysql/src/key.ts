import { createHash } from "node:crypto";

/**
 * Maps any JS string to a distinct string of well-formed Unicode: lone UTF-16 surrogates (which UTF-8
 * cannot hold: they would all become U+FFFD) are escaped as `\uXXXX`, NUL too (as `@idemkit/postgres`
 * does, so an operator's lookup by key reads the same on both), and `\` as `\\`. Every other key is
 * stored as it is, so operators can still read rows by key.
 */
export function encodeKey(key: string): string {
  return key.replace(
    // biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is escaped like PostgreSQL's store does
    /\\|\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g,
    (c) => (c === "\\" ? "\\\\" : `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`),
  );
}

/** The inverse of `encodeKey`: `\\` back to `\`, `\uXXXX` back to its code unit. */
export function decodeText(text: string): string {
  return text.includes("\\")
    ? text.replace(/\\(\\|u[0-9a-f]{4})/g, (_, c: string) =>
        c === "\\" ? "\\" : String.fromCharCode(Number.parseInt(c.slice(1), 16)),
      )
    : text;
}

/** The UTF-8 bytes of `encodeKey(text)`: what the store writes to its binary columns. */
export const encodedBytes = (text: string): Buffer => Buffer.from(encodeKey(text), "utf8");

/**
 * The primary key of a key's row: SHA-256 of the UTF-8 bytes of `encodeKey(key)`, 32 bytes whatever the
 * key's length. A text key would meet InnoDB's 3072-byte index limit and, worse, the column's collation:
 * PAD SPACE collations make `a` and `a ` one key, `_ci` ones `a` and `A`. Bytes compare exactly. Operators
 * find a row by key with `key_hash = X'<keyHash(key) as hex>'` (the README shows how).
 */
export function keyHash(key: string): Buffer {
  return createHash("sha256").update(encodeKey(key), "utf8").digest();
}
