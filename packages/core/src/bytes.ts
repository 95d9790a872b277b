/**
 * Byte arrays on the hot path. Node's `Buffer` (a `Uint8Array`, also in Bun and Deno's Node layer)
 * takes small arrays from a shared pool and encodes UTF-8 several times faster than `TextEncoder`
 * at the sizes idemkit stores; where there is none (browsers, Workers), the Web APIs. An array from
 * here may share its `ArrayBuffer` with others: read it through `byteOffset` and `byteLength`, never
 * through `.buffer` alone (stores already must: outcomes may be views into larger arrays).
 */
interface NodeBuffer {
  from(text: string, encoding: "utf8"): Uint8Array;
  allocUnsafe(size: number): Uint8Array;
}

const nodeBuffer = (
  (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule?.(
    "node:buffer",
  ) as { Buffer?: NodeBuffer } | undefined
)?.Buffer;
const encoder = new TextEncoder();

/** `text` as UTF-8 bytes (lone surrogates become U+FFFD, as `TextEncoder` does). */
export const utf8Bytes: (text: string) => Uint8Array =
  typeof nodeBuffer?.from === "function"
    ? (text) => nodeBuffer.from(text, "utf8")
    : (text) => encoder.encode(text);

/** An array of `size` bytes whose contents are not cleared: the caller writes every byte it reads. */
export const uninitializedBytes: (size: number) => Uint8Array =
  typeof nodeBuffer?.allocUnsafe === "function"
    ? (size) => nodeBuffer.allocUnsafe(size)
    : (size) => new Uint8Array(size);
