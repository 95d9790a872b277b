import { createHash } from "node:crypto";

/**
 * Maps any JS string to a distinct string of well-formed Unicode: lone UTF-16 surrogates (which UTF-8
 * cannot hold: they would all become U+FFFD) are escaped as `\uXXXX`, NUL too, and `\` as `\\`, as
 * `@idemkit/mysql` and `@idemkit/postgres` do. Every other character is stored as it is.
 */
export function encodeText(text: string): string {
  return text.replace(
    // biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is escaped like the SQL stores do
    /\\|\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g,
    (c) => (c === "\\" ? "\\\\" : `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`),
  );
}

/** The inverse of `encodeText`: `\\` back to `\`, `\uXXXX` back to its code unit. */
export function decodeText(text: string): string {
  return text.includes("\\")
    ? text.replace(/\\(\\|u[0-9a-f]{4})/g, (_, c: string) =>
        c === "\\" ? "\\" : String.fromCharCode(Number.parseInt(c.slice(1), 16)),
      )
    : text;
}

/** DynamoDB's limit on a partition key value, in UTF-8 bytes. */
export const MAX_PARTITION_KEY_BYTES = 2048;

/**
 * The partition key value of a key's item: `k:` and the encoded key when that fits in DynamoDB's 2048
 * bytes (operators can look an item up by key), else `h:` and the SHA-256 of the encoded key's UTF-8
 * bytes in hex (as `@idemkit/mysql` hashes every key). The two prefixes keep the forms apart, so a
 * short key can never meet a long key's hash.
 */
export function itemKey(key: string): string {
  const plain = `k:${encodeText(key)}`;
  if (Buffer.byteLength(plain, "utf8") <= MAX_PARTITION_KEY_BYTES) return plain;
  return `h:${createHash("sha256").update(encodeText(key), "utf8").digest("hex")}`;
}
