/**
 * Byte arrays on the hot path. Node's `Buffer` (a `Uint8Array`, also in Bun and Deno's Node layer)
 * takes small arrays from a shared pool and encodes UTF-8 several times faster than `TextEncoder`
 * at the sizes idemkit stores; where there is none (browsers, Workers), the Web APIs. An array from
 * here may share its `ArrayBuffer` with others: read it through `byteOffset` and `byteLength`, never
 * through `.buffer` alone (stores already must: outcomes may be views into larger arrays).
 */
interface NodeBuffer {
  from(text: string, encoding: "utf8"): Uint8Array;
  from(bytes: ArrayBuffer): { write(text: string, encoding: "latin1"): number };
  allocUnsafe(size: number): Uint8Array;
  byteLength(text: string, encoding: "utf8"): number;
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

/**
 * `head` (ASCII: one byte a character) and then `text` as UTF-8, in one array, without joining the
 * two strings first (a joined string of a large outcome is one more copy of it). Sized for ASCII text;
 * text that needs more bytes is finished after what fitted (`encodeInto` stops between code points).
 */
export function utf8BytesAfter(head: string, text: string): Uint8Array {
  const out = uninitializedBytes(head.length + text.length);
  for (let i = 0; i < head.length; i++) out[i] = head.charCodeAt(i);
  const { read, written } = encoder.encodeInto(text, out.subarray(head.length));
  if (read === text.length) return out;
  const rest = utf8Bytes(text.slice(read));
  const whole = uninitializedBytes(head.length + written + rest.length);
  whole.set(out.subarray(0, head.length + written));
  whole.set(rest, head.length + written);
  return whole;
}

/** Whether every character of `text` is ASCII (with Node's Buffer: its UTF-8 is exactly as long). */
export const isAsciiText: (text: string) => boolean =
  typeof nodeBuffer?.byteLength === "function"
    ? (text) => nodeBuffer.byteLength(text, "utf8") === text.length
    : (text) => !/[^\0-\x7f]/.test(text);

/** Text of one-byte characters as those bytes, in a plain array of its own (not a pooled one). */
export function latin1Bytes(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length);
  if (nodeBuffer) nodeBuffer.from(bytes.buffer).write(text, "latin1");
  else for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}
