// Where a large outcome is kept: a key of its own beside its record, in the record's Cluster slot.

/**
 * Between a record's key and the rest of its outcome key's name. It starts with the byte 0xFF, which UTF-8
 * never writes: a key the store is given is sent as UTF-8, so no key of a record, under any client prefix,
 * is another record's outcome key or pending key (the names the store sends as bytes).
 */
const OUTCOME_LATIN1 = "\xffoutcome";
const OUTCOME = Buffer.from(OUTCOME_LATIN1, "latin1");

const SLOTS = 16384;

// CRC-16/XMODEM, as Redis Cluster hashes keys to slots.
const CRC_TABLE = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  let crc = i << 8;
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
  CRC_TABLE[i] = crc & 0xffff;
}

/** The CRC after `crc` and one more byte. */
const step = (crc: number, byte: number) =>
  ((crc << 8) & 0xffff) ^ (CRC_TABLE[((crc >> 8) ^ byte) & 0xff] as number);

function slotOf(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0;
  for (let i = start; i < end; i++) crc = step(crc, bytes[i] as number);
  return crc & (SLOTS - 1);
}

/**
 * For each slot, a short hash tag (base-36 digits, no braces) that Redis Cluster puts in that slot:
 * the first of 0, 1, 2, … (in base 36) to land there. Made once, when first needed (~10 ms).
 */
let tags: string[] | undefined;
function tagOf(slot: number): string {
  if (tags === undefined) {
    const found: string[] = new Array(SLOTS);
    for (let n = 0, left = SLOTS; left > 0; n++) {
      const tag = n.toString(36);
      let crc = 0;
      for (let i = 0; i < tag.length; i++) crc = step(crc, tag.charCodeAt(i));
      const s = crc & (SLOTS - 1);
      if (found[s] === undefined) {
        found[s] = tag;
        left--;
      }
    }
    tags = found;
  }
  return tags[slot] as string;
}

const OPEN = 0x7b; // "{"
const CLOSE = 0x7d; // "}"

/**
 * The outcome key of the record at `key` (the store's prefix included) under the client's own
 * `clientPrefix`, named so that Redis Cluster puts it in the record's slot: the record's key and a tail,
 * where the record's key has a hash tag (the tail does not change it), else a tail that ends with a hash
 * tag of the record's slot. `undefined` where neither holds (a `{` with no tag after it): such a record
 * keeps its outcome inline. The pending key of a completion (redis-store.ts) adds the owner's token.
 */
export function outcomeKeyOf(clientPrefix: Uint8Array, key: string): Buffer | undefined {
  if (clientPrefix.length === 0) {
    // A Cluster's claims name it every time: an ASCII key with no "{", the common case, is hashed as it
    // is, and is the same bytes in latin1 as in UTF-8.
    let crc = 0;
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i);
      if (c > 0x7f || c === OPEN) return outcomeKeyOfBytes(Buffer.from(key), key);
      crc = step(crc, c);
    }
    return Buffer.from(`${key}${OUTCOME_LATIN1}{${tagOf(crc & (SLOTS - 1))}}`, "latin1");
  }
  return outcomeKeyOfBytes(Buffer.concat([clientPrefix, Buffer.from(key)]), key);
}

/** `outcomeKeyOf`, given the bytes of the record's whole key (the client's prefix, then `key`). */
function outcomeKeyOfBytes(bytes: Buffer, key: string): Buffer | undefined {
  const name = Buffer.from(key);
  if (hashTagOf(bytes) !== undefined) return Buffer.concat([name, OUTCOME]);
  if (bytes.includes(OPEN)) return undefined;
  return Buffer.concat([name, OUTCOME, Buffer.from(`{${tagOf(slotOf(bytes))}}`)]);
}

/**
 * Where the key's hash tag is, as Redis Cluster finds it (between the first "{" and the first "}" after
 * it, if anything is), as [start, end); `undefined` when it has none and the whole key is hashed.
 */
function hashTagOf(key: Uint8Array): [number, number] | undefined {
  const open = key.indexOf(OPEN);
  const close = open === -1 ? -1 : key.indexOf(CLOSE, open + 1);
  return close > open + 1 ? [open + 1, close] : undefined;
}

/** The key's Cluster slot (tests check the names above against Redis's own `CLUSTER KEYSLOT`). */
export function keySlot(key: Uint8Array): number {
  const tag = hashTagOf(key);
  return tag === undefined ? slotOf(key) : slotOf(key, ...tag);
}
