/** Turns a value into the opaque bytes a store keeps, and back. */
export interface Codec<T = unknown> {
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

// One tag byte, then the payload: raw bytes stay raw, so binary results round-trip exactly.
const UNDEFINED = 0;
const JSON_VALUE = 1;
const BYTES = 2;

/** The default codec: JSON for plain values, bytes for `Uint8Array`, and `undefined` kept as is. */
export const defaultCodec: Codec<unknown> = {
  encode(value) {
    if (value === undefined) return Uint8Array.of(UNDEFINED);
    if (value instanceof Uint8Array) {
      const out = new Uint8Array(value.length + 1);
      out[0] = BYTES;
      out.set(value, 1);
      return out;
    }
    const json = JSON.stringify(value);
    if (json === undefined) throw new TypeError(`Cannot encode a ${typeof value} as JSON`);
    const text = new TextEncoder().encode(json);
    const out = new Uint8Array(text.length + 1);
    out[0] = JSON_VALUE;
    out.set(text, 1);
    return out;
  },
  decode(bytes) {
    switch (bytes[0]) {
      case UNDEFINED:
        return undefined;
      case BYTES:
        return bytes.slice(1);
      case JSON_VALUE:
        return JSON.parse(new TextDecoder().decode(bytes.subarray(1)));
      default:
        throw new TypeError(`Unknown stored value tag ${bytes[0]}`);
    }
  },
};
