import { createHash } from "node:crypto";
import { decodeStoreText, encodeStoreText } from "@idemkit/core";

/** Keys and fingerprints as items hold them (core's `encodeStoreText`, as the SQL stores do). */
export const encodeText: (text: string) => string = encodeStoreText;
export const decodeText = decodeStoreText;

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
