import { createHash } from "node:crypto";
import { decodeStoreText, encodeStoreText } from "@idemkit/core";

/** A key or fingerprint as the store writes it (core's `encodeStoreText`, as `@idemkit/postgres` does). */
export const encodeKey: (key: string) => string = encodeStoreText;
export const decodeText = decodeStoreText;

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
